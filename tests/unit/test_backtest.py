"""`leadscore backtest`: CSV rows scored by the real engine, and the figures drawn from them."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from leadscore.domain.compiled import compile_model
from leadscore.domain.model import parse_model
from leadscore_tools import backtest, history_csv, row_scoring
from leadscore_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]

# Three tiers of past leads: gold converts 8 in 10, silver 3 in 10, bronze 1 in 10.
TIERS = {"gold": (10, 8), "silver": (10, 3), "bronze": (10, 1)}


def tier_model(mql: float = 60) -> dict[str, Any]:
    base = yaml.safe_load((ROOT / "models" / "default.yaml").read_text(encoding="utf-8"))
    return {
        "id": "tiers",
        "name": "Tiers",
        "fit": {
            "categories": [
                {
                    "name": "tier",
                    "weight": 100,
                    "field": "Tier",
                    "criteria": [
                        {"name": "gold", "equals": "gold", "points": 100},
                        {"name": "silver", "equals": "silver", "points": 50},
                    ],
                }
            ]
        },
        "engagement": base["engagement"],
        "weights": {"fit": 100, "engagement": 0},
        "thresholds": {"mql": mql, "reset": mql / 2},
    }


def write_csv(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def tier_rows() -> list[list[str]]:
    rows = []
    for tier, (leads, converted) in TIERS.items():
        rows += [[tier, "1" if i < converted else "0"] for i in range(leads)]
    return rows


@pytest.fixture
def tier_files(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "tiers.yaml"
    model.write_text(yaml.safe_dump(tier_model()), encoding="utf-8")
    return model, write_csv(tmp_path / "history.csv", ["Tier", "Won"], tier_rows())


# ---------------------------------------------------------------- metrics


def test_auc_counts_ties_as_half() -> None:
    assert backtest.auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert backtest.auc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert backtest.auc([5, 5, 5, 5], [0, 1, 0, 1]) == 0.5
    # positive 2 beats negative 1 and ties negative 2; positive 3 beats both: 3.5 of 4 pairs
    assert backtest.auc([1, 2, 2, 3], [0, 0, 1, 1]) == pytest.approx(0.875)
    assert math.isnan(backtest.auc([1, 2], [1, 1]))


def test_deciles_share_tied_scores_pro_rata() -> None:
    deciles = backtest.deciles([7.0] * 20, [1] * 5 + [0] * 15)
    assert [d.leads for d in deciles] == [2.0] * 10
    assert all(d.rate == pytest.approx(0.25) and d.lift == pytest.approx(1) for d in deciles)


def test_top_decile_holds_the_best_scored_leads() -> None:
    scores = list(range(100))
    outcomes = [1 if s >= 90 else 0 for s in scores]
    deciles = backtest.deciles(scores, outcomes)
    assert deciles[0].rate == 1.0
    assert deciles[0].lift == pytest.approx(10)
    assert deciles[0].lowest_score == 90
    assert all(d.conversions == 0 for d in deciles[1:])


# ---------------------------------------------------------------- history CSV


def test_outcomes_accept_the_usual_binary_spellings() -> None:
    labels = ["1", "0", "1.0", "yes", "No", "TRUE", "false", "won", "lost", ""]
    assert history_csv.parse_outcomes(labels, "c", None) == [1, 0, 1, 1, 0, 1, 0, 1, 0, None]


def test_non_binary_outcome_is_refused_unless_the_positive_value_is_named() -> None:
    with pytest.raises(history_csv.HistoryError, match=r"not binary.*--positive"):
        history_csv.parse_outcomes(["open", "won", "lost"], "stage", None)
    labels = ["open", "Won", "lost", ""]
    assert history_csv.parse_outcomes(labels, "stage", "won") == [0, 1, 0, None]


def test_read_history_skips_rows_without_outcome_and_ignores_unnamed_columns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "\ufeffTier,Won,\ngold,1,\nsilver,0,\nbronze,,\n\nsilver,yes\n", encoding="utf-8"
    )
    history = history_csv.read_history(str(path), "Won")
    assert history.columns == ["Tier", "Won"]
    assert history.outcomes == [1, 0, 1]
    assert history.without_outcome == 1
    assert history.rows[2] == {"Tier": "silver", "Won": "yes"}


@pytest.mark.parametrize(
    ("content", "outcome", "message"),
    [
        ("Tier,Won\ngold,1\n", "won", "no outcome column 'won' \\(did you mean 'Won'\\?\\)"),
        ("Tier,Won\ngold,1\nsilver,1\n", "Won", "every row with an outcome is converted"),
        ("Tier,Won\n", "Won", "no rows"),
        ("", "Won", "is empty"),
        ("Tier,Tier,Won\na,b,1\n", "Won", "appear twice"),
    ],
)
def test_unusable_history_is_explained(
    tmp_path: Path, content: str, outcome: str, message: str
) -> None:
    path = tmp_path / "h.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(history_csv.HistoryError, match=message):
        history_csv.read_history(str(path), outcome)


def test_unreadable_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(history_csv.HistoryError, match="cannot read"):
        history_csv.read_history(str(tmp_path / "missing.csv"), "Won")
    binary = tmp_path / "image.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(history_csv.HistoryError, match="not UTF-8"):
        history_csv.read_history(str(binary), "Won")


def test_stratified_split_is_reproducible_and_keeps_the_conversion_rate() -> None:
    outcomes = [1] * 300 + [0] * 700
    train, holdout = history_csv.stratified_split(outcomes, 0.7, seed=7)
    assert sorted(train + holdout) == list(range(1000))
    assert len(train) == 700
    assert sum(outcomes[i] for i in train) == 210
    assert sum(outcomes[i] for i in holdout) == 90
    assert history_csv.stratified_split(outcomes, 0.7, seed=7) == (train, holdout)
    assert history_csv.stratified_split(outcomes, 0.7, seed=8)[0] != train


def test_a_row_becomes_a_profile_without_missing_values_or_the_outcome() -> None:
    row = {"Tier": "gold", "City": "Select", "Country": "", "Won": "1", "": ""}
    profile = row_scoring.profile_of(row, 3, leave_out=("Won",))
    assert profile == {"Tier": "gold", "email": "lead-3@backtest.example"}
    real = row_scoring.profile_of({"email": "ann@acme.com", "Tier": "gold"}, 0)
    assert real["email"] == "ann@acme.com"


# ---------------------------------------------------------------- through the engine


def test_evaluate_measures_the_engine_scores() -> None:
    model = compile_model(parse_model(tier_model()))
    rows = [{"Tier": tier, "Won": won} for tier, won in tier_rows()]
    outcomes = [int(won) for _, won in tier_rows()]
    result = backtest.evaluate(model, row_scoring.score_rows(model, rows), outcomes)

    assert result.leads == 30 and result.conversions == 12
    # gold (100) is the only MQL at the 60 threshold: 8 of its 10 leads converted
    assert (result.mql, result.mql_conversions) == (10, 8)
    assert result.precision == pytest.approx(0.8)
    assert result.recall == pytest.approx(8 / 12)
    # gold positives beat 16 negatives and tie 2, silver positives beat 9 and tie 7, ...
    assert result.auc == pytest.approx((8 * 17 + 3 * 12.5 + 1 * 4.5) / (12 * 18))
    grades = {s.label: (s.leads, s.conversions) for s in result.by_grade}
    assert grades == {"A": (10, 8), "B": (10, 3), "D": (10, 1)}
    assert {s.label for s in result.by_rating} == {"A4", "B4", "D4"}
    assert result.top_decile_lift == pytest.approx(0.8 / 0.4)


def test_backtest_command_prints_the_table(
    tier_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    model, history = tier_files
    assert main(["backtest", "--model", str(model), str(history), "--outcome", "Won"]) == 0
    out = capsys.readouterr().out
    assert "AUC 0.824" in out
    assert "MQL at score >= 60: 10 leads, precision 80.0%, recall 66.7%" in out
    for heading in ("grade", "rating", "decile"):
        assert f"  {heading} " in out


def test_backtest_json(tier_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    model, history = tier_files
    argv = ["backtest", "--model", str(model), str(history), "--outcome", "Won", "--json"]
    assert main([*argv, "--quiet"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["auc"] == pytest.approx(0.8241, abs=1e-4)
    assert figures["mql"] == {
        "threshold": 60,
        "leads": 10,
        "conversions": 8,
        "precision": 0.8,
        "recall": 0.6667,
    }
    assert len(figures["deciles"]) == 10


def test_backtest_plot(tier_files: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs the analysis extra (make installs it)")
    model, history = tier_files
    chart = tmp_path / "lift.png"
    argv = ["backtest", "--model", str(model), str(history), "--outcome", "Won"]
    assert main([*argv, "--plot", str(chart), "--quiet"]) == 0
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_backtest_can_score_one_side_of_the_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "tiers.yaml"
    model.write_text(yaml.safe_dump(tier_model()), encoding="utf-8")
    history = write_csv(tmp_path / "h.csv", ["Tier", "Won"], tier_rows() * 4)
    argv = ["backtest", "--model", str(model), str(history), "--outcome", "Won", "--json"]
    assert main([*argv, "--train-fraction", "0.75", "--seed", "3"]) == 0
    holdout = json.loads(capsys.readouterr().out)
    assert main([*argv, "--train-fraction", "0.75", "--seed", "3", "--part", "train"]) == 0
    train = json.loads(capsys.readouterr().out)
    assert (holdout["leads"], train["leads"]) == (30, 90)
    assert (holdout["conversions"], train["conversions"]) == (12, 36)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--outcome", "Tier"], "'Tier' is not binary"),
        (["--outcome", "Lost"], "no outcome column 'Lost'"),
        (["--outcome", "Won", "--train-fraction", "1.5"], "--train-fraction must be between"),
    ],
)
def test_backtest_errors_are_one_line_without_traceback(
    tier_files: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    model, history = tier_files
    assert main(["backtest", "--model", str(model), str(history), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_backtest_lists_every_problem_of_an_invalid_model(
    tier_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, history = tier_files
    broken = tier_model()
    broken["fit"]["categories"][0]["weight"] = 90
    broken["weights"] = {"fit": 100, "engagement": 10}
    model = tmp_path / "broken.yaml"
    model.write_text(yaml.safe_dump(broken), encoding="utf-8")
    assert main(["backtest", "--model", str(model), str(history), "--outcome", "Won"]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err
    assert "weights sum to 90 %" in err and "weights sum to 110" in err


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["backtest"], ["calibrate"], ["feedback", "export"]):
        with pytest.raises(SystemExit) as exit_status:
            main([*command, "--help"])
        assert exit_status.value.code == 0
        assert "usage: leadscore" in capsys.readouterr().out
