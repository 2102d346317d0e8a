# Simulated hardware shared by the unix_sim board (on MicroPython: host_tools/build.py puts
# this package in the unix_sim bundle) and the CPython simulators (host_tools.pzem_sim):
# one home, imported as simulated.<module> on both runtimes.
