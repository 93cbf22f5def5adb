"""Raw points per attribute value: close-rate differences, or logistic regression coefficients."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from leadscore_tools.calibration.attributes import Attribute
from leadscore_tools.calibration.settings import CalibrationError

Say = Callable[[str], None]


def close_rate_points(attributes: Sequence[Attribute], rate: float) -> float:
    """Points = 100 x (value rate - global rate); rare values stay at 0. Returns the intercept."""
    for attribute in attributes:
        for level in attribute.levels:
            level.raw = 100 * (level.rate - rate)
        attribute.other.raw = 0.0
    return 0.0


def logistic_points(
    attributes: Sequence[Attribute], outcomes: Sequence[int], l2: float, say: Say
) -> float:
    """Fit the logistic regression; each level's coefficient becomes its raw points."""
    columns: list[tuple[int, int]] = []  # (attribute, level) per design column; level -1 = other
    offsets = []
    for a, attribute in enumerate(attributes):
        offsets.append(len(columns))
        columns += [(a, index) for index in range(len(attribute.levels))]
        if attribute.other.support:
            columns.append((a, -1))
    active = [
        [
            offsets[a] + (len(attribute.levels) if attribute.rows[row] < 0 else attribute.rows[row])
            for a, attribute in enumerate(attributes)
        ]
        for row in range(len(outcomes))
    ]
    intercept, coefficients = fit_logistic(active, len(columns), outcomes, l2, say)
    for (a, index), coefficient in zip(columns, coefficients, strict=True):
        attributes[a].level(index).raw = coefficient
    return intercept


def fit_logistic(
    active: Sequence[Sequence[int]],
    features: int,
    outcomes: Sequence[int],
    l2: float,
    say: Say,
    *,
    iterations: int = 50,
) -> tuple[float, list[float]]:
    """L2-regularised logistic regression on 0/1 features by IRLS (Newton's method).

    `active[row]` lists the features that are 1 in that row. The intercept is not penalised.
    Returns (intercept, coefficients).
    """
    try:
        import numpy as np
    except ImportError:
        raise CalibrationError(
            "the logistic method needs numpy: pip install 'leadscore[analysis]'"
        ) from None
    rows = len(outcomes)
    design = np.zeros((rows, features + 1))
    design[:, 0] = 1.0
    for row, indexes in enumerate(active):
        design[row, [index + 1 for index in indexes]] = 1.0
    target = np.asarray(outcomes, dtype=float)
    penalty = np.full(features + 1, float(l2))
    penalty[0] = 0.0
    beta = np.zeros(features + 1)
    mean = float(target.mean())
    beta[0] = math.log(mean / (1 - mean))
    for iteration in range(1, iterations + 1):
        eta = np.clip(design @ beta, -35, 35)
        probability = 1 / (1 + np.exp(-eta))
        weight = probability * (1 - probability)
        gradient = design.T @ (target - probability) - penalty * beta
        hessian = (design.T * weight) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        beta += step
        deviance = -2 * float(
            np.sum(
                target * np.log(probability + 1e-12)
                + (1 - target) * np.log(1 - probability + 1e-12)
            )
        )
        say(f"logistic regression: iteration {iteration}, deviance {deviance:,.1f}")
        if float(np.max(np.abs(step))) < 1e-7:
            break
    else:
        say(f"logistic regression: stopped after {iterations} iterations without converging")
    return float(beta[0]), [float(b) for b in beta[1:]]
