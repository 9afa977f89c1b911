"""Scanner core: frames, the cine ring, the acquisition engine, processing and studies. Never imports Qt."""
