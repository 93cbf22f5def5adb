"""Analysis commands: `leadscore calibrate`, `leadscore backtest`, `leadscore feedback export`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml
from leadscore.domain.compiled import compile_model
from leadscore.domain.model import ModelError, ScoringModel, parse_model

from leadscore_tools import backtest, backtest_report, feedback_export, history_csv, row_scoring
from leadscore_tools.calibration.calibrate import calibrate
from leadscore_tools.calibration.model_document import to_yaml
from leadscore_tools.calibration.report import report
from leadscore_tools.calibration.settings import METHODS, CalibrationError, Settings
from leadscore_tools.common import CommandError, read_json

DEFAULTS = Settings()
DEFAULT_BASE_MODEL = Path("models") / "default.yaml"
FALLBACK_ENGAGEMENT: dict[str, Any] = {
    "rules": [{"name": "demo_request", "event": "demo_request", "points": 40}]
}


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    _register_calibrate(commands)
    _register_backtest(commands)
    feedback = commands.add_parser("feedback", help="sales feedback: export it for calibration")
    actions = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="feedback records + lead profiles -> the CSV `calibrate` reads",
        description="Turn sales feedback (accepted, rejected, won, lost) and lead profiles into "
        "a CSV with one row per lead and a 1/0 outcome column, ready for `leadscore calibrate`. "
        'Each feedback record: {"email", "outcome", "at"?, "profile"?}.',
    )
    export.add_argument(
        "--input", required=True, metavar="JSONL", help="feedback records (JSON lines or array)"
    )
    export.add_argument("--out", required=True, metavar="CSV", help="CSV file to write")
    export.add_argument(
        "--leads",
        metavar="FILE",
        help='lead documents {"email", "profile"} (as GET /v1/leads/{email} returns them)',
    )
    export.add_argument(
        "--target",
        choices=tuple(feedback_export.TARGETS),
        default="won",
        help="won: won=1, lost/rejected=0, still accepted left out; "
        "accepted: accepted/won/lost=1, rejected=0 (default: won)",
    )
    export.add_argument("--outcome-column", default="converted", help="default: converted")
    export.set_defaults(run=run_feedback_export)


def _history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("csv", metavar="CSV", help="past leads, one row each, with a header row")
    parser.add_argument("--outcome", required=True, metavar="COLUMN", help="1/0 outcome column")
    parser.add_argument(
        "--positive",
        metavar="VALUE",
        help="the outcome value that means converted (any other value: not converted); "
        "needed when the column is not 1/0, yes/no, true/false or won/lost",
    )
    parser.add_argument(
        "--missing",
        nargs="+",
        default=list(history_csv.MISSING_TOKENS),
        metavar="VALUE",
        help="values that mean 'not filled in' (default: Select)",
    )
    parser.add_argument(
        "--train-fraction",
        type=float,
        metavar="F",
        help="stratified split: the share of rows used for calibration (e.g. 0.7)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the split (default: 7)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _register_calibrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "calibrate",
        help="propose point values from historical outcomes",
        description="Propose fit points from past leads and whether they converted, as a "
        "scoring model (fit categories, one per CSV column) and a readable report.",
        epilog="example: leadscore calibrate leads.csv --outcome Converted --method logistic "
        "--exclude Tags 'Lead Quality' --train-fraction 0.7 --holdout holdout.csv "
        "--out models/calibrated.yaml",
    )
    _history_options(parser)
    parser.add_argument(
        "--method",
        choices=METHODS,
        default="close-rate",
        help="close-rate: 100 x (value rate - global rate); logistic: a logistic regression "
        "turned into points (default: close-rate)",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        nargs="+",
        default=[],
        metavar="COLUMN",
        help="columns not to learn from (globs allowed, e.g. 'Asymmetrique*'): identifiers and "
        "anything filled in after the outcome was known",
    )
    parser.add_argument(
        "--min-support",
        type=int,
        default=DEFAULTS.min_support,
        metavar="N",
        help="values seen in fewer rows get no points of their own (default: %(default)s)",
    )
    parser.add_argument(
        "--bins",
        type=int,
        default=DEFAULTS.bins,
        metavar="N",
        help="quantile bins per numeric column (default: %(default)s)",
    )
    parser.add_argument(
        "--l2",
        type=float,
        default=DEFAULTS.l2,
        help="logistic method: L2 regularisation (default: %(default)s)",
    )
    parser.add_argument(
        "--mql-precision",
        type=float,
        default=DEFAULTS.mql_precision,
        metavar="P",
        help="MQL threshold: the lowest score at which this share of past leads converted "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--holdout", metavar="FILE", help="write the rows not used for calibration to this CSV"
    )
    parser.add_argument(
        "--base-model",
        metavar="FILE",
        help="engagement rules, spam and SLA settings are copied from it "
        "(default: models/default.yaml)",
    )
    parser.add_argument("--id", help="model id (default: calibrated-METHOD)")
    parser.add_argument("--name", help="model name")
    parser.add_argument(
        "--out", metavar="FILE", help="write the model here (default: stdout; report on stderr)"
    )
    parser.add_argument("--report", metavar="FILE", help="also write the report to this file")
    parser.set_defaults(run=run_calibrate)


def _register_backtest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backtest",
        help="AUC, lift and MQL precision/recall of a model on history",
        description="Score every row of a CSV of past leads with the engine (fit from the "
        "row's columns, no events) and measure how well the scores ranked the leads that "
        "converted.",
    )
    parser.add_argument("--model", required=True, metavar="FILE", help="model file (YAML or JSON)")
    _history_options(parser)
    parser.add_argument(
        "--part",
        choices=("holdout", "train"),
        default="holdout",
        help="with --train-fraction: which side of the split to score (default: holdout)",
    )
    parser.add_argument(
        "--plot", metavar="FILE.png", help="write a lift and score-distribution chart"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(run=run_backtest)


# ---------------------------------------------------------------- helpers


class _Progress:
    """Progress on stderr: a live counter on a terminal, stage lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live = sys.stderr.isatty()

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"  {message}", file=sys.stderr, flush=True)

    def count(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.live:
            end = "\n" if done == total else ""
            print(f"\r  scored {done:,}/{total:,} rows", end=end, file=sys.stderr, flush=True)
        elif done == total:
            print(f"  scored {total:,} rows", file=sys.stderr, flush=True)


def _history(args: argparse.Namespace) -> history_csv.History:
    try:
        history = history_csv.read_history(args.csv, args.outcome, args.positive)
    except history_csv.HistoryError as error:
        raise CommandError(str(error)) from None
    if history.without_outcome and not args.quiet:
        print(f"  {history.without_outcome:,} rows without an outcome left out", file=sys.stderr)
    return history


def _split(
    args: argparse.Namespace, history: history_csv.History
) -> tuple[list[int], list[int]] | None:
    if args.train_fraction is None:
        return None
    if not 0 < args.train_fraction < 1:
        raise CommandError("--train-fraction must be between 0 and 1 (e.g. 0.7)")
    return history_csv.stratified_split(history.outcomes, args.train_fraction, args.seed)


def _load_model(path: str) -> tuple[ScoringModel, dict[str, Any]]:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CommandError(f"cannot read model {path}: {error.strerror}") from None
    except yaml.YAMLError:
        raise CommandError(f"model {path} is not valid YAML") from None
    try:
        return parse_model(document), document
    except ModelError as error:
        lines = "\n".join(f"  {p['path'] or '(model)'}: {p['message']}" for p in error.problems)
        raise CommandError(f"{path}: {len(error.problems)} problem(s)\n{lines}") from None


def _base_model(path: str | None) -> tuple[dict[str, Any], str]:
    if path is not None:
        return _load_model(path)[1], f"Engagement, spam and SLA settings copied from {path}."
    for candidate in (DEFAULT_BASE_MODEL, Path(__file__).resolve().parents[2] / DEFAULT_BASE_MODEL):
        if candidate.is_file():
            return (
                _load_model(str(candidate))[1],
                f"Engagement, spam and SLA settings copied from {candidate}.",
            )
    return (
        {"engagement": FALLBACK_ENGAGEMENT},
        "No base model found: a one-rule engagement section keeps the model valid.",
    )


def _emit(text: str) -> None:
    """Print on stdout; a reader that stops early (`| head`) is not an error."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _write(path: str, text: str, what: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {what} {path}: {error.strerror}") from None


def _command_line(args: argparse.Namespace, excluded: list[str]) -> str:
    words = ["leadscore", "calibrate", args.csv, "--outcome", args.outcome, "--method", args.method]
    if excluded:
        words += ["--exclude", *excluded]
    if args.train_fraction is not None:
        words += ["--train-fraction", f"{args.train_fraction:g}", "--seed", str(args.seed)]
    for option in ("positive", "min_support", "bins", "l2", "mql_precision"):
        value = getattr(args, option)
        if value is not None and value != getattr(DEFAULTS, option, None):
            words += [
                f"--{option.replace('_', '-')}",
                f"{value:g}" if isinstance(value, float) else str(value),
            ]
    return shlex.join(words)


# ---------------------------------------------------------------- commands


def run_calibrate(args: argparse.Namespace) -> int:
    progress = _Progress(args.quiet)
    excluded = [column for group in args.exclude for column in group]
    settings = Settings(
        method=args.method,
        min_support=args.min_support,
        bins=args.bins,
        missing=tuple(args.missing),
        l2=args.l2,
        mql_precision=args.mql_precision,
        exclude=tuple(excluded),
    )
    base_model, base_note = _base_model(args.base_model)
    history = _history(args)
    total = len(history.rows)
    split = _split(args, history)
    if split is None:
        if args.holdout:
            raise CommandError("--holdout needs --train-fraction (e.g. --train-fraction 0.7)")
        training = history
        data_note = f"Data: {args.csv}, {total:,} rows, all used for calibration."
    else:
        train_rows, holdout_rows = split
        training = history.subset(train_rows)
        data_note = (
            f"Data: {args.csv}, {total:,} rows; calibration on a stratified "
            f"{args.train_fraction:.0%} ({len(train_rows):,} rows, seed {args.seed}), "
            f"{len(holdout_rows):,} rows held out"
        )
        if args.holdout:
            try:
                history_csv.write_rows(
                    args.holdout, history.columns, (history.rows[i] for i in holdout_rows)
                )
            except OSError as error:
                raise CommandError(f"cannot write {args.holdout}: {error.strerror}") from None
            data_note += f" in {args.holdout}"
        data_note += "."
    model_id = args.id or f"calibrated-{args.method}"
    name = args.name or f"Calibrated ({args.method}) from {Path(args.csv).name}"
    try:
        result = calibrate(
            training,
            settings,
            base_model,
            model_id=model_id,
            name=name,
            say=progress.say,
            progress=progress.count,
        )
    except (CalibrationError, ModelError) as error:
        raise CommandError(str(error)) from None
    model_text = to_yaml(result.document, _command_line(args, excluded))
    report_text = report(result, f"{data_note}\n{base_note}")
    if args.report:
        _write(args.report, report_text, "report")
    if args.out:
        _write(args.out, model_text, "model")
        _emit(
            f"{report_text}\nModel written to {args.out}: check it with "
            f"`leadscore model validate {args.out}`.\n"
        )
    else:
        sys.stderr.write(report_text)
        _emit(model_text)
    return 0


def run_backtest(args: argparse.Namespace) -> int:
    progress = _Progress(args.quiet)
    model, _ = _load_model(args.model)
    compiled = compile_model(model)
    history = _history(args)
    split = _split(args, history)
    title = f"Backtest of model {model.id!r} on {args.csv}"
    if split is not None:
        train_rows, holdout_rows = split
        rows = holdout_rows if args.part == "holdout" else train_rows
        history = history.subset(rows)
        title += (
            f" ({args.part} part of a stratified {args.train_fraction:g} split, seed {args.seed})"
        )
        if history.conversions in (0, len(history.rows)):
            raise CommandError(f"the {args.part} part holds a single kind of outcome")
    scored = row_scoring.score_rows(
        compiled, history.rows, args.missing, (history.outcome_column,), progress.count
    )
    result = backtest.evaluate(compiled, scored, history.outcomes)
    if args.plot:
        try:
            backtest_report.plot(result, args.plot)
        except ImportError:
            raise CommandError(
                "--plot needs matplotlib: pip install 'leadscore[analysis]'"
            ) from None
        except OSError as error:
            raise CommandError(f"cannot write {args.plot}: {error.strerror or error}") from None
    if args.json:
        _emit(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        chart = f"Chart written to {args.plot}.\n" if args.plot else ""
        _emit(backtest_report.format_table(result, title) + chart)
    return 0


def run_feedback_export(args: argparse.Namespace) -> int:
    records = read_json(args.input, "feedback")
    leads = read_json(args.leads, "leads") if args.leads else []
    records = [records] if isinstance(records, dict) else records
    leads = [leads] if isinstance(leads, dict) else leads
    if not isinstance(records, list) or not isinstance(leads, list):
        raise CommandError("feedback and leads must be JSON objects, arrays or JSON lines")
    try:
        export = feedback_export.export_rows(records, leads, args.target, args.outcome_column)
    except feedback_export.FeedbackError as error:
        raise CommandError(f"{args.input}: {error}") from None
    if not export.rows:
        raise CommandError(
            f"{args.input}: no lead has a final outcome for target {args.target!r} "
            f"({export.leads} leads with feedback, {export.open} still open)"
        )
    try:
        history_csv.write_rows(args.out, export.columns, export.rows)
    except OSError as error:
        raise CommandError(f"cannot write {args.out}: {error.strerror}") from None
    print(
        f"{args.out}: {len(export.rows):,} leads, {export.conversions:,} with "
        f"{args.outcome_column}=1; {export.open:,} left out (no final outcome yet)"
    )
    if export.without_profile:
        print(
            f"warning: {len(export.without_profile):,} leads have no profile "
            "(pass --leads with their documents)",
            file=sys.stderr,
        )
    return 0
