"""What a calibration is asked to do, and the error raised when it cannot be done."""

from __future__ import annotations

from dataclasses import dataclass

from leadscore_tools.history_csv import MISSING_TOKENS

METHODS = ("close-rate", "logistic")


class CalibrationError(ValueError):
    """Calibration cannot proceed: bad settings, or nothing left to learn from."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The choices of one calibration, as the command line gives them."""

    method: str = "close-rate"
    min_support: int = 30
    bins: int = 8
    missing: tuple[str, ...] = MISSING_TOKENS
    l2: float = 1.0
    mql_precision: float = 0.8
    exclude: tuple[str, ...] = ()
