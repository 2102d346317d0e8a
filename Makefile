# Prepaid smart energy meter: firmware, gateway and tools.
# The two set-up commands are `make demo` and `make test`; both install what they need.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BOARD ?= unix_sim
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all deps venv devlibs build esp32-firmware test test-fast bench demo clean

all: build

# Debian packages the tests and demo need (broker, pty bridge, headless browser, a C
# compiler for the unix-port MicroPython the firmware is frozen into: host_tools/frozen.py,
# gcc-multilib for its 32-bit build, the ESP32's object sizes, and openssl for the CA of
# MQTT over TLS: host_tools/tlsca.py; fonts-lohit-deva draws the page's Hindi in Chromium;
# postgresql, whose throwaway cluster the gateway tests run on: tests/pgcluster.py).
deps:
	@need=""; for p in mosquitto:mosquitto socat:socat chromium:chromium gcc:gcc openssl:openssl npm:npm; do \
	  command -v $${p%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${p%%:*} ] || need="$$need $${p#*:}"; done; \
	for p in gcc-multilib fonts-dejavu-core fonts-lohit-deva postgresql; do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" \
	  || need="$$need $$p"; done; \
	if [ -n "$$need" ]; then echo "apt-get install$$need"; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$need; fi

$(VENV)/.stamp: requirements.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.stamp

# Device libraries (microdot, umqtt.simple) fetched by name from the package index, and the
# console's chart library (uPlot) from the npm registry; never committed.
devlibs: venv
	$(PY) -m host_tools.devlibs build/lib
	$(PY) -m host_tools.consoleassets build/console

build: devlibs
	$(PY) -m host_tools.build --board $(BOARD) --out build/$(BOARD)

# An ESP32 image with the meter frozen in (ESP32=esp32_pzem|esp32_analog). Needs ESP-IDF and
# a micropython-lib checkout (MPY_LIB_DIR); says so and fails where they are missing.
ESP32 ?= esp32_pzem
esp32-firmware: devlibs
	$(PY) -m host_tools.esp32_firmware $(ESP32)

test: deps devlibs
	$(PY) -m pytest -q tests

bench: deps devlibs
	$(PY) -m pytest -q -s -o python_files="bench_*.py" tests/bench

demo: deps devlibs
	$(PY) -m host_tools.demo

clean:
	rm -rf build .pytest_cache
