"""Where and how a run trains: device defaults, DDP under Hydra, GPU slots for parallel jobs."""
