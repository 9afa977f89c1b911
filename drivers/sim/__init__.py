"""The simulated probe: firmware, transports and the virtual patient it images."""
