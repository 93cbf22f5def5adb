"""A backtest shown to people: the terminal table and the PNG chart (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from leadscore_tools.backtest import Backtest, Segment


def format_table(result: Backtest, title: str = "") -> str:
    """The backtest as a terminal table."""
    lines = [
        title or f"Backtest of model {result.model!r}",
        f"  leads {result.leads:,}, converted {result.conversions:,} ({result.rate:.1%})",
        f"  AUC {result.auc:.3f}    top-decile lift {result.top_decile_lift:.2f}x",
        f"  MQL at score >= {result.threshold:g}: {result.mql:,} leads, "
        f"precision {_percent(result.precision)}, recall {_percent(result.recall)}",
        "",
    ]
    lines += _segment_table("grade", result.by_grade)
    lines += _segment_table("rating", result.by_rating)
    lines += _segment_table("decile", result.deciles, with_score=True)
    return "\n".join(lines).rstrip() + "\n"


def _percent(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1%}"


def _segment_table(name: str, segments: Sequence[Segment], with_score: bool = False) -> list[str]:
    header = f"  {name:<8}{'leads':>8}{'converted':>11}{'rate':>8}{'lift':>7}"
    header += f"{'min score':>11}" if with_score else ""
    lines = [header]
    cumulative = 0.0
    conversions = sum(s.conversions for s in segments)
    for segment in segments:
        cumulative += segment.conversions
        line = (
            f"  {segment.label:<8}{segment.leads:>8,.0f}{segment.conversions:>11,.0f}"
            f"{_percent(segment.rate):>8}{segment.lift:>6.2f}x"
        )
        if with_score:
            lowest = "" if segment.lowest_score is None else f"{segment.lowest_score:g}"
            line += f"{lowest:>11}   {cumulative / conversions:.0%} of conversions so far"
        lines.append(line)
    lines.append("")
    return lines


def plot(result: Backtest, path: str) -> None:
    """A PNG with the cumulative gains and lift by decile, and the score distributions."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    figure, (gains_axis, lift_axis, spread_axis) = plt.subplots(1, 3, figsize=(16, 4.8))
    figure.suptitle(
        f"Backtest of {result.model}: {result.leads:,} leads, AUC {result.auc:.3f}, "
        f"top-decile lift {result.top_decile_lift:.2f}x"
    )
    shares = [0.0]
    captured = [0.0]
    for segment in result.deciles:
        shares.append(shares[-1] + segment.leads / result.leads)
        captured.append(captured[-1] + segment.conversions / result.conversions)
    gains_axis.plot(
        [s * 100 for s in shares], [c * 100 for c in captured], marker="o", label="model"
    )
    gains_axis.plot([0, 100], [0, 100], linestyle="--", color="grey", label="random order")
    gains_axis.set(
        title="Cumulative gains",
        xlabel="% of leads, best scored first",
        ylabel="% of conversions captured",
        xlim=(0, 100),
        ylim=(0, 100),
    )
    gains_axis.legend(loc="lower right")
    gains_axis.grid(alpha=0.3)

    labels = [segment.label for segment in result.deciles]
    lifts = [0 if math.isnan(s.lift) else s.lift for s in result.deciles]
    bars = lift_axis.bar(labels, lifts, color="tab:blue")
    lift_axis.axhline(1, color="grey", linestyle="--", label="average lead")
    for bar, segment in zip(bars, result.deciles, strict=True):
        if not math.isnan(segment.rate):
            lift_axis.annotate(
                f"{segment.rate:.0%}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
    lift_axis.set_ylim(0, max([*lifts, 1]) * 1.15)
    lift_axis.set(
        title="Lift by decile (label: conversion rate)",
        xlabel="decile (1 = best scored 10 %)",
        ylabel="lift over average",
    )
    lift_axis.legend(loc="upper right")
    lift_axis.grid(axis="y", alpha=0.3)

    bins = [i * 2.5 for i in range(41)]
    converted = [s for s, o in zip(result.scores, result.outcomes, strict=True) if o]
    others = [s for s, o in zip(result.scores, result.outcomes, strict=True) if not o]
    counts_others, _, _ = spread_axis.hist(
        others, bins=bins, alpha=0.6, label=f"not converted ({len(others):,})"
    )
    counts_converted, _, _ = spread_axis.hist(
        converted, bins=bins, alpha=0.6, label=f"converted ({len(converted):,})"
    )
    tallest = max([*counts_others, *counts_converted, 1])
    spread_axis.axvline(
        result.threshold,
        color="black",
        linestyle="--",
        label=f"MQL >= {result.threshold:g}: precision {_percent(result.precision)}, "
        f"recall {_percent(result.recall)}",
    )
    spread_axis.set(
        title="Score distribution",
        xlabel="score",
        ylabel="leads",
        xlim=(0, 100),
        ylim=(0, tallest * 1.3),  # room for the legend above the bars
    )
    spread_axis.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
