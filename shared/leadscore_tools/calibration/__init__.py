"""Calibration: fit points learnt from past outcomes, as a scoring model marketing can read."""
