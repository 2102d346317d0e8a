"""Host-side tools: build, flash/provision, simulators, calibration."""
