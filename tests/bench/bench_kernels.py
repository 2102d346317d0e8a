"""Benchmark (make bench; not part of make test): the analog metering kernels in viper
against the same algorithm in plain bytecode (tests/device/upy/kernels_ref.py), in one
unix-port MicroPython run on the same buffers. Prints samples/s of each and the ratio;
the target is >= 20x. Figures only: nothing here asserts a time."""
import upy

WINDOWS = 2000


def test_bench_viper_kernels_vs_bytecode():
    (r,) = upy.run_json("kernels_bench.py", "bench", WINDOWS)
    vi, bc = r["viper"], r["bytecode"]
    print()
    print("analog kernels, one window = %d samples/channel (10 cycles at 4 kHz), unix port:"
          % r["samples_per_window"])
    print("  viper     %12d samples/s  (%7.1f us/window, %d windows)"
          % (vi["samples_per_s"], vi["us_per_window"], vi["windows"]))
    print("  bytecode  %12d samples/s  (%7.1f us/window, %d windows)"
          % (bc["samples_per_s"], bc["us_per_window"], bc["windows"]))
    print("  ratio     %12.1fx  (target >= 20x: %s)"
          % (r["ratio"], "met" if r["ratio"] >= 20 else "NOT met"))
    print("  Analog.compute (kernels + per-window float math): %.1f us/window"
          % r["analog_compute_us"])
    assert vi["samples_per_s"] > 0 and bc["samples_per_s"] > 0
