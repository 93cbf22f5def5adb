"""Developer tools (CLI, local stack, calibration): import leadscore, never shipped to Lambda."""
