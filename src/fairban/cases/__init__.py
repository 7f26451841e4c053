"""Cases: decisions become measures with reasons, staged, paused, amended, lifted."""
