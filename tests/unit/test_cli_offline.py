"""`leadscore model validate` and `leadscore score`: JSON out, clear errors, exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from leadscore_tools.cli import main

from tests.unit.engine_helpers import MODELS, ROOT

FIXTURES = ROOT / "tests" / "fixtures"
AT = "2026-11-01T12:00:00Z"


def leadscore(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def score(
    capsys: pytest.CaptureFixture[str], *extra: str, model: Path = MODELS / "default.yaml"
) -> tuple[int, str, str]:
    return leadscore(
        capsys,
        "score",
        "--model",
        str(model),
        "--lead",
        str(FIXTURES / "lead.json"),
        "--events",
        str(FIXTURES / "events.json"),
        "--at",
        AT,
        *extra,
    )


def write(tmp_path: Path, name: str, content: Any) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


# ---------------------------------------------------------------- model validate


@pytest.mark.parametrize("name", ["default.yaml", "analytics.yaml"])
def test_validate_a_good_model(capsys: pytest.CaptureFixture[str], name: str) -> None:
    status, out, err = leadscore(capsys, "model", "validate", MODELS / name)
    assert status == 0 and err == ""
    assert "valid model" in out


def test_validate_lists_every_problem_with_its_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (MODELS / "default.yaml").read_text(encoding="utf-8")
    text = text.replace("weight: 30", "weight: 35").replace("reset: 45", "reset: 75")
    text = text.replace("group: email}", "group: mail}")
    status, out, err = leadscore(capsys, "model", "validate", write(tmp_path, "bad.yaml", text))
    assert status == 1 and out == ""
    assert "4 problem(s)" in err
    for path in (
        "fit.categories: category weights sum to 105 %",
        "engagement.rules[13].group: group 'mail' is not defined",
        "engagement.rules[14].group",
        "thresholds.reset: reset (75) must be below mql (60)",
    ):
        assert path in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id: x\nfit: [unclosed\n", "not valid YAML at line 3"),
        ("", "a model must be a mapping"),
        ("- a list\n", "a model must be a mapping"),
    ],
)
def test_validate_a_file_that_is_no_model(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, message: str
) -> None:
    status, _, err = leadscore(capsys, "model", "validate", write(tmp_path, "m.yaml", content))
    assert status == 1 and message in err


def test_validate_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = leadscore(capsys, "model", "validate", tmp_path / "none.yaml")
    assert status == 1
    assert "cannot read model" in err and "No such file" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------- score


def test_score_the_readme_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = score(capsys)
    assert status == 0 and err == ""
    result = json.loads(out)
    assert result["email"] == "maria.lopez@northwind-analytics.com"
    assert result["at"] == AT
    (scores,) = result["scores"]
    assert scores["model"] == "default" and scores["status"] == "mql"
    assert scores["rating"] == "A1" and scores["sla_due_at"] == "2026-11-02T12:00:00Z"
    assert 0 <= scores["score"] <= 100
    assert {r["rule"] for r in scores["reasons"]} >= {
        "engagement.demo_request",
        "engagement.pricing_page",
        "fit.role.executive",
    }
    assert sum(r["points"] for r in scores["reasons"]) == pytest.approx(scores["score"])
    assert sum(d["points"] for d in result["history"]) == pytest.approx(scores["score"])
    assert result["transitions"] == ["mql"]
    assert result["duplicates"] == ["evt-010"]
    limited = [d for d in result["history"] if d["limited"]]
    assert [(d["event_id"], d["rule"], d["points"]) for d in limited] == [
        ("evt-002", "engagement.email_open", 0)
    ]


def test_score_with_a_product_line_model(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = score(capsys, model=MODELS / "analytics.yaml")
    assert status == 0
    result = json.loads(out)
    assert result["scores"][0]["model"] == "analytics"
    assert result["out_of_scope"] == ["evt-006"]  # a CRM webinar


def test_score_accepts_json_lines_and_one_event(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = "\n".join(
        json.dumps(
            {
                "id": f"e{i}",
                "type": "page_view",
                "occurred_at": AT,
                "properties": {"url": "/pricing"},
            }
        )
        for i in range(2)
    )
    events = write(tmp_path, "events.jsonl", lines + "\n")
    lead = FIXTURES / "lead.json"
    argv = ["score", "--model", MODELS / "default.yaml", "--lead", lead, "--at", AT]
    status, out, _ = leadscore(capsys, *argv, "--events", events)
    assert status == 0 and len(json.loads(out)["history"]) == 3  # profile + 2 visits
    single = write(tmp_path, "one.json", {"id": "e1", "type": "demo_request", "occurred_at": AT})
    status, out, _ = leadscore(capsys, *argv, "--events", single)
    assert status == 0 and json.loads(out)["history"][-1]["rule"] == "engagement.demo_request"


BAD_INPUTS = [  # (lead, events, --at, what the error says)
    ({"name": "no email"}, [], AT, "must be a JSON object with an email"),
    (["not", "an", "object"], [], AT, "must be a JSON object with an email"),
    ({"email": "a@b.co"}, {"oops": 1}, AT, "events[0].type: required"),
    ({"email": "a@b.co"}, "not json", AT, "is not JSON"),
    ({"email": "a@b.co"}, [{"type": "page_view"}, {"id": 3, "type": "x"}], AT, "events[1].id"),
    ({"email": "a@b.co"}, [{"type": "x", "occurred_at": "yesterday"}], AT, "events[0].occurred_at"),
    ({"email": "a@b.co"}, [{"type": "x", "properties": [1]}], AT, "events[0].properties"),
    ({"email": "a@b.co"}, 42, AT, "must be a JSON array of events"),
    ({"email": "a@b.co"}, [], "next tuesday", "--at: not an ISO-8601 time"),
]


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_score_bad_input_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: tuple[Any, Any, str, str]
) -> None:
    lead, events, at, message = case
    status, out, err = leadscore(
        capsys,
        "score",
        "--model",
        MODELS / "default.yaml",
        "--lead",
        write(tmp_path, "lead.json", lead),
        "--events",
        write(tmp_path, "events.json", events),
        "--at",
        at,
    )
    assert status == 1 and out == ""
    assert err.startswith("leadscore: ") and message in err
    assert "Traceback" not in err


def test_score_with_a_bad_model_or_missing_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write(tmp_path, "bad.yaml", "id: x\nname: y\n")
    status, _, err = score(capsys, model=bad)
    assert status == 1 and "fit: Field required" in err
    status, _, err = leadscore(
        capsys,
        "score",
        "--model",
        MODELS / "default.yaml",
        "--lead",
        tmp_path / "none.json",
        "--events",
        tmp_path / "e.json",
    )
    assert status == 1 and "cannot read lead" in err


def test_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as missing:
        main(["score", "--model", "m.yaml"])
    assert missing.value.code == 2
    assert "--lead" in capsys.readouterr().err
    with pytest.raises(SystemExit) as shown:
        main(["score", "--help"])
    assert shown.value.code == 0
    assert "--at" in capsys.readouterr().out


def test_the_installed_command_exits_with_the_status() -> None:
    """The real process: exit status 0 with JSON on stdout, 1 with a message on stderr."""
    command = [sys.executable, "-m", "leadscore_tools.cli"]
    good = subprocess.run(
        [*command, "model", "validate", str(MODELS / "default.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert good.returncode == 0
    bad = subprocess.run(
        [*command, "model", "validate", str(FIXTURES / "lead.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1 and "problem(s)" in bad.stderr
