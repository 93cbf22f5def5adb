"""The calibration report people read: each attribute value, its support, rate and points."""

from __future__ import annotations

from leadscore_tools.calibration.calibrate import FIT_POINTS, Calibration


def report(calibration: Calibration, history_note: str) -> str:
    """The readable report: each attribute value, its support, its rate, its points."""
    c = calibration
    method = c.settings.method
    fit = c.fit
    lines = [
        f"Calibration report ({method} method)",
        "",
        history_note,
        f"Calibration rows: {c.rows:,}, converted {c.conversions:,} ({c.rate:.1%}).",
        "",
    ]
    if c.skipped:
        lines.append("Columns not used:")
        lines += [f"  - {column}: {reason}" for column, reason in c.skipped]
        lines.append("")
    if method == "close-rate":
        lines += [
            "Points (close-rate): 100 x (the value's conversion rate - the global rate "
            f"{c.rate:.1%}); values seen in fewer than {c.settings.min_support} rows are left "
            "out (0 points).",
            f"Score points = {c.scale:.3f} x close-rate points; the score starts at the base "
            f"{c.base_points:.1f} (a lead whose every value converts at the global rate).",
        ]
        raw_title = "close-rate"
    else:
        lines += [
            f"Logistic regression (L2 {c.settings.l2:g}, intercept {c.intercept:+.3f}): a value's "
            "coefficient is its effect on the log-odds of converting, other attributes being "
            "equal: a value with a high rate gets few points when another attribute already "
            "explains it.",
            f"Score points = {c.scale:.2f} x (coefficient - the attribute's average coefficient), "
            f"so 0 means an average lead; the score starts at the base {c.base_points:.1f}. "
            f"Values seen in fewer than {c.settings.min_support} rows share the '(other values)' "
            "points.",
        ]
        raw_title = "coef"
    lines += [
        "The scale spreads past leads' scores over 0-100 without clamping them, as far as "
        f"criterion points ({-FIT_POINTS}..{FIT_POINTS}) allow. 'weight' is the category's share "
        "of the fit score, in proportion to the most points one of its values moves; the model "
        "file holds 'file points' = score points x 100 / weight, as the engine expects.",
        "",
    ]
    for attribute in c.attributes:
        kind = "numeric, binned" if attribute.numeric else "categorical"
        lines.append(
            f"{attribute.column}  [{kind}; weight {attribute.weight:g} %; "
            f"alone: AUC {attribute.alone_auc:.3f}]"
        )
        lines.append(
            f"  {'value':<40}{'support':>9}{'rate':>8}{raw_title:>12}{'score pts':>11}"
            f"{'file pts':>10}"
        )
        shown = attribute.levels + ([attribute.other] if attribute.other.support else [])
        if not attribute.numeric:
            shown = sorted(shown, key=lambda level: -level.points)
        for level in shown:
            raw = f"{level.raw:+.1f}" if method == "close-rate" else f"{level.raw:+.3f}"
            lines.append(
                f"  {level.label[:39]:<40}{level.support:>9,}{level.rate:>8.1%}{raw:>12}"
                f"{level.points:>+11.1f}{level.criterion_points:>+10}"
            )
        lines.append("")
    grades = c.document["fit"]["grades"]
    lines += [
        f"Grades (fit score): A >= {grades['A']} (best ~15 % of past leads), B >= {grades['B']}, "
        f"C >= {grades['C']}, D below.",
        c.threshold_note + ".",
        f"On the calibration rows: AUC {fit.auc:.3f}, top-decile lift {fit.top_decile_lift:.2f}x, "
        f"MQL precision {fit.precision:.1%}, recall {fit.recall:.1%}.",
        "Backtest on rows the calibration did not see before trusting these figures.",
    ]
    if c.warnings:
        lines += ["", "Warnings:"]
        lines += [f"  - {warning}" for warning in c.warnings]
    return "\n".join(lines) + "\n"
