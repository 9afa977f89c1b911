"""Probe drivers: PLP/1 over USB and serial, and the simulated probe. Never imports Qt."""
