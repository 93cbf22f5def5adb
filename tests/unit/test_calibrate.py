"""`leadscore calibrate` and `leadscore feedback export`: points learnt from past outcomes."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from leadscore.domain import engine
from leadscore.domain.compiled import compile_model
from leadscore.domain.model import parse_model
from leadscore_tools import backtest, feedback_export, history_csv, row_scoring
from leadscore_tools.calibration.attributes import Attribute
from leadscore_tools.calibration.calibrate import Calibration, calibrate
from leadscore_tools.calibration.points import fit_logistic
from leadscore_tools.calibration.settings import METHODS, CalibrationError, Settings
from leadscore_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]
BASE_MODEL = yaml.safe_load((ROOT / "models" / "default.yaml").read_text(encoding="utf-8"))
INDUSTRY_RATES = {"Software": 0.6, "Retail": 0.25, "Mining": 0.1}


def synthetic_leads(count: int = 1200, seed: int = 1) -> list[dict[str, str]]:
    """Past leads whose conversion depends on industry and size; noise and traps beside them."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        industry = rng.choice([*INDUSTRY_RATES, "Select"])
        employees = rng.randint(1, 2000)
        rate = INDUSTRY_RATES.get(industry, 0.3) * (0.5 + employees / 2000)
        won = rng.random() < rate
        rows.append(
            {
                "Lead ID": f"L-{index:05d}",
                "Industry": industry if index % 97 else "Quarrying",  # a rare value
                "Employees": str(employees),
                "Colour": rng.choice(["red", "blue"]),
                "Always": "same",
                "Stage after call": "Closed won" if won else "Lost",  # filled in after the fact
                "Won": "yes" if won else "no",
            }
        )
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def history_of(rows: list[dict[str, str]], tmp_path: Path) -> history_csv.History:
    return history_csv.read_history(str(write_csv(tmp_path / "history.csv", rows)), "Won")


def run(history: history_csv.History, method: str = "close-rate", **settings: Any) -> Calibration:
    chosen = Settings(method=method, **settings)
    return calibrate(history, chosen, BASE_MODEL, model_id="calibrated", name="Test")


@pytest.fixture
def history(tmp_path: Path) -> history_csv.History:
    return history_of(synthetic_leads(), tmp_path)


def attribute(result: Calibration, column: str) -> Attribute:
    return next(a for a in result.attributes if a.column == column)


# ---------------------------------------------------------------- close-rate


def test_close_rate_points_are_100_times_the_rate_difference(tmp_path: Path) -> None:
    # The seeds' example: a value converting at 40 % against a global 15 % earns 25 points.
    rows = [{"Source": "Webinar", "Won": "1" if i < 16 else "0"} for i in range(40)]
    rows += [{"Source": "Ads", "Won": "1" if i < 14 else "0"} for i in range(160)]
    result = run(history_of(rows, tmp_path))
    levels = {level.label: level for level in attribute(result, "Source").levels}
    assert result.rate == pytest.approx(0.15)
    assert levels["Webinar"].rate == pytest.approx(0.40)
    assert levels["Webinar"].raw == pytest.approx(25.0)
    assert levels["Ads"].raw == pytest.approx(-6.25)  # converts worse: negative points


def test_values_with_too_little_support_are_left_out(history: history_csv.History) -> None:
    result = run(history, min_support=30)
    industry = attribute(result, "Industry")
    assert "Quarrying" not in {level.label for level in industry.levels}
    assert industry.other.support == 13 and industry.other.points == 0
    criteria = result.document["fit"]["categories"]
    category = next(c for c in criteria if c["field"] == "Industry")
    assert all(c.get("equals") != "Quarrying" for c in category["criteria"])
    assert "default_points" not in category
    assert run(history, min_support=5).document != result.document
    quarrying = attribute(run(history, min_support=5), "Industry")
    assert "Quarrying" in {level.label for level in quarrying.levels}


def test_select_means_missing(history: history_csv.History) -> None:
    industry = attribute(run(history), "Industry")
    labels = {level.label for level in industry.levels}
    assert "(missing)" in labels and "Select" not in labels
    assert industry.missing_seen == ["Select"]


def test_identifiers_constants_and_excluded_columns_are_not_used(
    history: history_csv.History,
) -> None:
    result = run(history, exclude=("Stage*",))
    skipped = dict(result.skipped)
    assert "identifier" in skipped["Lead ID"]
    assert "single value" in skipped["Always"]
    assert skipped["Stage after call"] == "excluded (--exclude)"
    fields = {c["field"] for c in result.document["fit"]["categories"]}
    assert fields == {"Industry", "Employees", "Colour"}
    assert not result.warnings


def test_a_leaking_column_is_flagged(history: history_csv.History) -> None:
    result = run(history)
    assert any("'Stage after call' alone ranks leads with AUC 1.00" in w for w in result.warnings)


def test_an_exclusion_that_matches_nothing_is_an_error(history: history_csv.History) -> None:
    with pytest.raises(CalibrationError, match="'Stage aftr call' matches no column"):
        run(history, exclude=("Stage aftr call",))


# ---------------------------------------------------------------- the model document


@pytest.mark.parametrize("method", METHODS)
def test_the_result_is_a_valid_fit_only_model(history: history_csv.History, method: str) -> None:
    result = run(history, method, exclude=("Stage*",))
    model = parse_model(result.document)
    assert model.weights.fit == 100 and model.weights.engagement == 0
    assert sum(c.weight for c in model.fit.categories) == pytest.approx(100)
    assert len(model.engagement.rules) == len(BASE_MODEL["engagement"]["rules"])
    assert model.negative == []
    assert model.thresholds.reset < model.thresholds.mql
    assert model.fit.grades.A > model.fit.grades.B > model.fit.grades.C
    employees = next(c for c in model.fit.categories if c.field == "Employees")
    assert all(c.min is not None or c.below is not None for c in employees.criteria)
    points = [c.points for cat in model.fit.categories for c in cat.criteria]
    assert all(float(p).is_integer() and -100 <= p <= 100 for p in points)


@pytest.mark.parametrize("method", METHODS)
def test_the_engine_puts_every_row_in_the_level_calibration_learnt_from(
    history: history_csv.History, method: str
) -> None:
    result = run(history, method, exclude=("Stage*",))
    model = compile_model(parse_model(result.document))
    for index, row in enumerate(history.rows[:300]):
        profile = row_scoring.profile_of(row, index, leave_out=("Won",))
        reasons = engine.score(model, None, profile, [], row_scoring.SCORED_AT).state.reasons
        for learnt in result.attributes:
            level = learnt.level(learnt.rows[index])
            expected = f"fit.{learnt.name}.{'default' if level.kind == 'other' else level.name}"
            if level.criterion_points:
                assert expected in reasons, (row, expected, sorted(reasons))


@pytest.mark.parametrize("method", METHODS)
def test_scores_spread_inside_0_100_and_rank_like_the_raw_points(
    history: history_csv.History, method: str
) -> None:
    result = run(history, method, exclude=("Stage*",))
    scores = result.fit.scores
    assert sum(1 for s in scores if s in (0, 100)) <= 0.03 * len(scores)  # hardly any clamping
    raw = [sum(a.level(a.rows[i]).raw for a in result.attributes) for i in range(len(history.rows))]
    raw_auc = backtest.auc(raw, history.outcomes)
    assert result.fit.auc == pytest.approx(raw_auc, abs=0.01)
    assert result.fit.auc > 0.7


def test_mql_threshold_is_where_past_leads_converted_at_the_target_rate(
    history: history_csv.History,
) -> None:
    result = run(history, "logistic", exclude=("Stage*",), mql_precision=0.7)
    threshold = result.document["thresholds"]["mql"]
    chosen = [o for s, o in zip(result.fit.scores, history.outcomes, strict=True) if s >= threshold]
    below = [
        o for s, o in zip(result.fit.scores, history.outcomes, strict=True) if s >= threshold - 1
    ]
    assert sum(chosen) / len(chosen) >= 0.7
    assert sum(below) / len(below) < 0.7  # the lowest such threshold: best recall
    assert result.fit.precision == pytest.approx(sum(chosen) / len(chosen))
    assert f"MQL at score {threshold}" in result.threshold_note


def test_unreachable_precision_falls_back_to_the_best_balance(history: history_csv.History) -> None:
    result = run(history, exclude=("Stage*",), mql_precision=0.99)
    assert "no score reaches 99% precision" in result.threshold_note


# ---------------------------------------------------------------- logistic


def test_logistic_regression_recovers_known_coefficients() -> None:
    rng = random.Random(5)
    active, outcomes = [], []
    for _ in range(6000):
        features = [f for f, share in ((0, 0.5), (1, 0.3)) if rng.random() < share]
        eta = -1.0 + 2.0 * (0 in features) - 1.0 * (1 in features)
        outcomes.append(int(rng.random() < 1 / (1 + math.exp(-eta))))
        active.append(features)
    intercept, (first, second) = fit_logistic(active, 2, outcomes, 1e-6, lambda _: None)
    assert intercept == pytest.approx(-1.0, abs=0.15)
    assert first == pytest.approx(2.0, abs=0.15)
    assert second == pytest.approx(-1.0, abs=0.15)


def test_logistic_points_follow_the_effects(history: history_csv.History) -> None:
    result = run(history, "logistic", exclude=("Stage*",))
    industry = {level.label: level.points for level in attribute(result, "Industry").levels}
    assert industry["Software"] > industry["Retail"] > industry["Mining"]
    employees = [level.points for level in attribute(result, "Employees").levels]
    assert employees[-1] > employees[0]
    colour = attribute(result, "Colour")
    assert colour.weight < attribute(result, "Industry").weight  # noise weighs little


# ---------------------------------------------------------------- the command


def test_calibrate_command_writes_model_holdout_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_csv(tmp_path / "history.csv", synthetic_leads())
    model, holdout, report = tmp_path / "m.yaml", tmp_path / "holdout.csv", tmp_path / "r.txt"
    argv = [
        "calibrate", str(history), "--outcome", "Won", "--method", "logistic",
        "--exclude", "Stage after call", "--exclude", "Lead ID",
        "--train-fraction", "0.7", "--seed", "7", "--holdout", str(holdout),
        "--out", str(model), "--report", str(report), "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("Calibration report (logistic method)")
    assert report.read_text(encoding="utf-8") in out
    for text in ("Industry", "Software", "support", "rate", "score pts", "840 rows, seed 7"):
        assert text in out
    text = model.read_text(encoding="utf-8")
    assert text.startswith("# Calibrated by: leadscore calibrate")
    assert "- {name: software, equals: Software, points:" in text
    assert parse_model(yaml.safe_load(text)).id == "calibrated-logistic"
    held = history_csv.read_history(str(holdout), "Won")
    assert len(held.rows) == 360
    assert main(["model", "validate", str(model)]) == 0
    capsys.readouterr()
    argv = ["backtest", "--model", str(model), str(holdout), "--outcome", "Won", "--json"]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["auc"] > 0.7


def test_without_out_the_model_goes_to_stdout_and_the_report_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = write_csv(tmp_path / "history.csv", synthetic_leads(400))
    argv = ["calibrate", str(history), "--outcome", "Won", "--exclude", "Stage*", "--id", "mine"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert parse_model(yaml.safe_load(captured.out)).id == "mine"
    assert "Calibration report (close-rate method)" in captured.err
    assert "attributes from 400 rows" in captured.err  # progress


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--outcome", "won"], "no outcome column 'won' (did you mean 'Won'?)"),
        (["--outcome", "Industry"], "'Industry' is not binary"),
        (["--outcome", "Won", "--exclude", "Nope"], "'Nope' matches no column"),
        (["--outcome", "Won", "--holdout", "h.csv"], "--holdout needs --train-fraction"),
        (["--outcome", "Won", "--mql-precision", "80"], "--mql-precision must be between"),
    ],
)
def test_calibrate_errors_are_one_line_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    history = write_csv(tmp_path / "history.csv", synthetic_leads(200))
    assert main(["calibrate", str(history), *argv]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_unreadable_csv_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(tmp_path), "--outcome", "Won"]) == 1
    assert "cannot read" in capsys.readouterr().err


# ---------------------------------------------------------------- feedback export


FEEDBACK = [
    {"email": "ann@acme.com", "outcome": "accepted", "at": "2026-01-01T00:00:00Z"},
    {"email": "ann@acme.com", "outcome": "won", "at": "2026-02-01T00:00:00Z"},
    {"email": "bob@mail.io", "outcome": "rejected", "profile": {"industry": "Retail"}},
    {"email": "cy@big.co", "outcome": "lost", "at": "2026-03-01T00:00:00Z"},
    {"email": "Cy@big.co", "outcome": "accepted", "at": "2026-01-01T00:00:00Z"},  # older
    {"email": "dee@new.co", "outcome": "accepted"},
]
LEADS = [
    {"email": "ann@acme.com", "profile": {"industry": "Software", "company_size": 250}},
    {"email": "cy@big.co", "profile": {"industry": "Software", "country": "DE", "tags": ["x"]}},
]


def test_feedback_becomes_one_row_per_lead_with_a_binary_outcome() -> None:
    export = feedback_export.export_rows(FEEDBACK, LEADS)
    assert export.columns == [
        "email", "email_domain", "industry", "company_size", "country", "tags", "converted",
    ]  # fmt: skip
    rows = {row["email"]: row for row in export.rows}
    assert rows["ann@acme.com"]["converted"] == "1"  # accepted, then won
    assert rows["ann@acme.com"]["company_size"] == "250"
    assert rows["bob@mail.io"] == {
        "email": "bob@mail.io", "email_domain": "mail.io", "industry": "Retail", "converted": "0",
    }  # fmt: skip
    assert rows["cy@big.co"]["converted"] == "0"  # the latest feedback decides
    assert "dee@new.co" not in rows  # still being worked: no outcome yet
    assert (export.leads, export.open, export.conversions) == (4, 1, 1)
    assert export.without_profile == []


def test_sales_acceptance_can_be_the_target() -> None:
    export = feedback_export.export_rows(FEEDBACK, LEADS, target="accepted", outcome_column="sal")
    outcomes = {row["email"]: row["sal"] for row in export.rows}
    assert outcomes == {
        "ann@acme.com": "1",
        "bob@mail.io": "0",
        "cy@big.co": "1",
        "dee@new.co": "1",
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"outcome": "won"}, "feedback record 1: needs an email"),
        ({"email": "a@b.co", "outcome": "maybe"}, "outcome 'maybe' is not one of"),
        ({"email": "a@b.co", "outcome": "won", "at": "yesterday"}, "not an ISO-8601 time"),
    ],
)
def test_bad_feedback_records_are_explained(record: dict[str, Any], message: str) -> None:
    with pytest.raises(feedback_export.FeedbackError, match=message):
        feedback_export.export_rows([record])


def test_feedback_export_command_feeds_calibrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(2)
    records = []
    for index in range(300):
        industry = rng.choice(["Software", "Retail"])
        won = rng.random() < (0.7 if industry == "Software" else 0.2)
        records.append(
            {
                "email": f"lead{index}@company{index}.com",
                "outcome": "won" if won else rng.choice(["lost", "rejected"]),
                "profile": {"industry": industry, "first_name": f"N{index}"},
            }
        )
    source = tmp_path / "feedback.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    exported = tmp_path / "feedback.csv"
    assert main(["feedback", "export", "--input", str(source), "--out", str(exported)]) == 0
    assert "300 leads" in capsys.readouterr().out
    argv = ["calibrate", str(exported), "--outcome", "converted", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "m.yaml")]) == 0
    report = capsys.readouterr().out
    assert "industry" in report and "Software" in report
    assert "email: identifier-like" in report


def test_feedback_export_without_any_outcome_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "feedback.jsonl"
    source.write_text(json.dumps({"email": "a@b.co", "outcome": "accepted"}), encoding="utf-8")
    argv = ["feedback", "export", "--input", str(source), "--out", str(tmp_path / "o.csv")]
    assert main(argv) == 1
    assert "no lead has a final outcome" in capsys.readouterr().err
