# Rules shared by the meter (MicroPython) and the gateway (CPython): written once, run on both.
