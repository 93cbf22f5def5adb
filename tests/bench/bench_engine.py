"""`make bench`: how fast the scoring engine goes on one core, against the smallest loop.

A generated stream of 100,000 events over 10,000 leads (fixed seed) is scored with
models/default.yaml, one engine call per lead, and then run through the smallest loop
that only sums fixed points per event type over the same Event objects, grouped by lead
the same way. The email events are shaped as the webhook adapters pass them on: a
provider's message id, a mail client's or browser's user agent on opens and clicks
(`--plain-email`: the campaign alone, as the bench had them before). Both figures are events
per second on one pinned core; the ratio says what the engine's explanations, limits, caps,
recency and decay cost. The two take turns, run after run, and the CPU time is shown too:
the machine may be shared.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from leadscore.domain import engine
from leadscore.domain.compiled import CompiledModel, compile_model
from leadscore.domain.engine import TIME_AND_ID
from leadscore.domain.events import Event
from leadscore.domain.fit import profile_fit
from leadscore.domain.model import parse_model
from leadscore.domain.state import LeadState
from leadscore.domain.times import EPOCH
from leadscore_tools.modelfiles import load_model

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)

TITLES = [
    "VP Marketing",
    "Head of Growth",
    "Marketing Manager",
    "Software Engineer",
    "CEO",
    "Student",
    "Data Analyst",
    "Director of Sales",
    "Intern",
    "",
]
INDUSTRIES = ["software", "saas", "manufacturing", "retail", "education", "healthcare", ""]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "BR", "IN", "JP", ""]
SIZES = ["1-10", "11-50", "51-200", "201-1000", "5000", 12000, ""]
DOMAINS = [
    "acme.com",
    "globex.io",
    "initech.com",
    "gmail.com",
    "stanford.edu",
    "umbrella.co",
    "mailinator.com",
    "rivalsoft.com",
]
PAGES = [
    "/pricing",
    "/blog/ten-tips",
    "/blog/roadmap",
    "/product/analytics",
    "/features",
    "/careers",
    "/demo",
    "/",
    "/about",
    "/docs/getting-started",
]
FORMS = ["demo-request", "contact-us", "newsletter", "whitepaper", "ebook", "webinar", "survey"]
# (event type, relative frequency)
TYPES = [
    ("page_view", 45),
    ("email_delivered", 10),
    ("email_open", 14),
    ("email_click", 8),
    ("form_submit", 5),
    ("download", 4),
    ("webinar_registered", 2),
    ("webinar_attended", 1),
    ("demo_request", 1),
    ("meeting_booked", 1),
    ("social_engagement", 3),
    ("email_unsubscribe", 1),
    ("email_bounce", 1),
    ("custom_signal", 4),
]
# What people's mail clients and browsers send on opens and clicks (Outlook, Edge, Chrome,
# Safari on iPhone and Mac, Android, Gmail's image proxy), in a few releases each.
AGENTS = [
    *(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.{2400 + v}.{v % 7 * 13}"
        for v in range(118, 126)
    ),
    *(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{v}.0.0.0 Safari/537.36"
        for v in range(118, 126)
    ),
    *(
        f"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.{b}; Pro)"
        for b in (16827, 17029, 17126, 17231, 17328, 17425)
    ),
    *(
        f"Mozilla/5.0 (iPhone; CPU iPhone OS {v} like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148"
        for v in ("16_7", "17_2", "17_3", "17_4", "17_5")
    ),
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
]
NATIVE = {  # SendGrid's names for the email events
    "email_delivered": "delivered",
    "email_open": "open",
    "email_click": "click",
    "email_unsubscribe": "unsubscribe",
    "email_bounce": "bounce",
}


def generate(
    leads: int, events: int, seed: int, plain_email: bool = False
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, Event]]]:
    """Profiles and a flat, shuffled stream of (email, event), with a few duplicates.

    The email events' message ids and user agents come from a second generator, so the
    stream is otherwise the same with `plain_email` (the campaign alone) or without.
    """
    rng, details = random.Random(seed), random.Random(seed + 1)
    message_ids: dict[tuple[str, str], str] = {}
    profiles: dict[str, dict[str, Any]] = {}
    for number in range(leads):
        email = f"lead{number}@{rng.choice(DOMAINS)}"
        profiles[email] = {
            "email": email,
            "first_name": rng.choice(["Ada", "Grace", "Linus", "jo", "Qwerty"]),
            "last_name": rng.choice(["Lovelace", "Hopper", "Torvalds", "Smith"]),
            "company": rng.choice(["Acme", "Globex", "Initech", "Asdfgh Ltd"]),
            "job_title": rng.choice(TITLES),
            "industry": rng.choice(INDUSTRIES),
            "company_size": rng.choice(SIZES),
            "country": rng.choice(COUNTRIES),
            "phone": rng.choice(["", "+1 555 0100"]),
        }
    emails = list(profiles)
    kinds = [kind for kind, _ in TYPES]
    weights = [weight for _, weight in TYPES]
    stream: list[tuple[str, Event]] = []
    for number in range(events):
        kind = rng.choices(kinds, weights)[0]
        properties: dict[str, Any] = {}
        if kind == "page_view":
            properties["url"] = "https://www.example.com" + rng.choice(PAGES)
        elif kind.startswith("email_"):
            properties["campaign"] = f"c{rng.randrange(20)}"
        elif kind == "form_submit":
            properties["form"] = rng.choice(FORMS)
        elif kind == "download":
            properties["asset"] = f"asset-{rng.randrange(10)}"
        elif kind.startswith("webinar"):
            properties["webinar"] = f"w{rng.randrange(4)}"
        occurred = NOW - timedelta(seconds=rng.randrange(120 * 86_400))
        event_id = f"e{number}" if rng.random() > 0.02 else f"e{max(0, number - 1)}"
        email = rng.choice(emails)
        if kind.startswith("email_") and not plain_email:
            add_email_details(properties, email, kind, details, message_ids)
        stream.append((email, Event(event_id, kind, occurred, None, properties)))
    return profiles, stream


def add_email_details(
    properties: dict[str, Any],
    email: str,
    kind: str,
    rng: random.Random,
    message_ids: dict[tuple[str, str], str],
) -> None:
    """What SendGrid's adapter passes on besides the campaign: the message id (one per lead
    and campaign), the event's own id, and the user agent and link of opens and clicks."""
    key = (email, properties["campaign"])
    message_id = message_ids.get(key)
    if message_id is None:
        tail = "".join(rng.choices("0123456789ABCDEF", k=10))
        message_id = f"{rng.getrandbits(64):016x}.filter{rng.randrange(1000):04d}p1mdw1.{tail}.0"
        message_ids[key] = message_id
    properties.update(
        provider="sendgrid",
        native_event=NATIVE[kind],
        provider_event_id=f"{rng.getrandbits(128):032x}",
        message_id=message_id,
    )
    if kind in ("email_open", "email_click"):
        properties["user_agent"] = rng.choice(AGENTS)
    if kind == "email_click":
        properties["url"] = "https://www.example.com" + rng.choice(PAGES)


def group(stream: list[tuple[str, Event]]) -> dict[str, list[Event]]:
    by_lead: dict[str, list[Event]] = {}
    for email, event in stream:
        by_lead.setdefault(email, []).append(event)
    return by_lead


def run_engine(
    model: CompiledModel, profiles: dict[str, dict[str, Any]], stream: list[tuple[str, Event]]
) -> int:
    """One engine call per lead with all its events; returns the total score (centipoints)."""
    total = 0
    for email, events in group(stream).items():
        total += engine.score(model, None, profiles[email], events, NOW).state.score
    return total


def run_engine_per_event(
    model: CompiledModel, profiles: dict[str, dict[str, Any]], stream: list[tuple[str, Event]]
) -> int:
    """One engine call per event, carrying each lead's state (the slowest way to arrive)."""
    states: dict[str, LeadState] = {}
    for email, event in stream:
        states[email] = engine.score(model, states.get(email), profiles[email], [event], NOW).state
    return sum(state.score for state in states.values())


def run_minimal(points: dict[str, int], stream: list[tuple[str, Event]]) -> int:
    """The smallest honest loop: group by lead, sum fixed points per event type."""
    total = 0
    for events in group(stream).values():
        lead_total = 0
        for event in events:
            lead_total += points.get(event.type, 0)
        total += lead_total
    return total


def run_skeleton(points: dict[str, int], stream: list[tuple[str, Event]]) -> int:
    """What any engine to the issue's rules must do per event, and nothing else: apply the
    lead's events in time order, skip duplicate ids, take the event's time in seconds, find
    its points by type and keep one explanation per event. No fit, limits, recency, caps,
    decay, state or thresholds: a lower bound for the engine, in CPython."""
    total = 0
    for events in group(stream).values():
        seen: set[str] = set()
        explanations: list[tuple[str, int, int]] = []
        lead_total = 0
        for event in sorted(events, key=TIME_AND_ID):
            if event.id in seen:
                continue
            seen.add(event.id)
            since = event.occurred_at - EPOCH
            at = since.days * 86_400 + since.seconds
            gained = points.get(event.type, 0)
            lead_total += gained
            explanations.append((event.id, at, gained))
        total += lead_total
    return total


def fit_only(model: CompiledModel, profiles: dict[str, dict[str, Any]]) -> int:
    """The fit of every lead's profile (what a call costs before its events), memos warm."""
    return sum(profile_fit(model, profile).fit for profile in profiles.values())


def best_of(repeats: int, run: Callable[[], int]) -> tuple[float, float]:
    """The fastest and the median of `repeats` runs, in seconds.

    The fastest is the figure: the run least disturbed by other processes on the machine.
    """
    timings = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        run()
        timings.append(time.perf_counter() - start)
    return min(timings), statistics.median(timings)


def best_of_interleaved(
    repeats: int, runs: dict[str, Callable[[], int]]
) -> dict[str, tuple[float, float, float]]:
    """Per run: the fastest and median wall time, and the fastest CPU time, in seconds.

    The runs take turns, so that a busy spell of the machine slows each of them alike.
    """
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (min(wall[name]), statistics.median(wall[name]), min(cpu[name])) for name in runs}


def breakdown(
    model: CompiledModel, profiles: dict[str, dict[str, Any]], stream: list[tuple[str, Event]]
) -> None:
    """What a call costs before its first event (fit and state), and what each event adds."""
    by_lead = list(group(stream).items())
    leads, n = len(by_lead), len(stream)

    def calls_without_events() -> int:
        return sum(engine.score(model, None, profiles[e], (), NOW).state.score for e, _ in by_lead)

    def fits() -> int:
        return sum(profile_fit(model, profiles[email]).fit for email, _ in by_lead)

    timings = best_of_interleaved(
        5,
        {
            "full": lambda: run_engine(model, profiles, stream),
            "empty": calls_without_events,
            "fit": fits,
        },
    )
    full, empty, fit = (timings[name][2] for name in ("full", "empty", "fit"))
    print(
        f"  breakdown (CPU): a call without events {empty / leads * 1e6:.1f} us per lead "
        f"(fit {fit / leads * 1e6:.1f} us), each event {(full - empty) / n * 1e6:.2f} us"
    )


def floor(
    model: CompiledModel,
    profiles: dict[str, dict[str, Any]],
    stream: list[tuple[str, Event]],
    points: dict[str, int],
) -> None:
    """How much of the 5x budget the work no engine can skip takes already (CPU time)."""
    timings = best_of_interleaved(
        5,
        {
            "minimal": lambda: run_minimal(points, stream),
            "skeleton": lambda: run_skeleton(points, stream),
            "fit": lambda: fit_only(model, profiles),
        },
    )
    minimal, skeleton, fit = (timings[name][2] for name in ("minimal", "skeleton", "fit"))
    n = len(stream)
    print(
        f"  floor (CPU): skeleton {skeleton / n * 1e6:.2f} us per event ({skeleton / minimal:.1f}x "
        f"the minimal loop), fit {fit / n * 1e6:.2f} us per event ({fit / minimal:.1f}x); "
        f"together {(skeleton + fit) / minimal:.1f}x of the 5x budget, before limits, recency, "
        "caps, decay and state"
    )


def hostile_regex(model_path: str, calls: int = 1_000) -> None:
    """What a model regex with nested quantifiers, `(a+)+$`, costs per event on URLs made to
    make a backtracking engine try every way to split them (Python's re took 4.5 s for the
    27-character one on this machine's core, and doubles with each character)."""
    document = yaml.safe_load(Path(model_path).read_text(encoding="utf-8"))
    nested = {"url": {"regex": "(a+)+$"}}
    rule = {"name": "nested", "event": "page_view", "where": nested, "points": 1}
    document["engagement"]["rules"].insert(0, rule)
    model = compile_model(parse_model(document))
    profile = {"email": "ann@acme.com", "job_title": "CEO"}
    figures = []
    for url in ("https://www.example.com/pricing", "a" * 26 + "!", "a" * 4_999 + "!"):
        page_view = [Event("e1", "page_view", NOW, None, {"url": url})]

        def score(page_view: list[Event] = page_view) -> int:
            for _ in range(calls):
                model.rule_memo.clear()  # every call tests the URL, as a new one would be
                engine.score(model, None, profile, page_view, NOW)
            return calls

        best, _ = best_of(3, score)
        figures.append(f"{len(url):,} chars {best / calls * 1e6:.1f} us")
    print(f"  regex (a+)+$ on a page_view's URL, per event: {', '.join(figures)}")


def pin_to_one_core() -> str:
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return f"pinned to core {core}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=str(ROOT / "models" / "default.yaml"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--plain-email",
        action="store_true",
        help="email events carry their campaign only (no message id, user agent or link)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time a call without events (fit, state) and the fit alone",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time the skeleton every engine needs (order, duplicates, time, explanation) "
        "and the fit of every profile, against the minimal loop",
    )
    parser.add_argument(
        "--per-event",
        action="store_true",
        help="also time one engine call per event (state carried)",
    )
    args = parser.parse_args()

    pinned = pin_to_one_core()
    model = compile_model(load_model(args.model))
    profiles, stream = generate(args.leads, args.events, args.seed, args.plain_email)
    points = {
        kind: round(rule.points * 100)
        for kind, rules in model.rules_by_type.items()
        for rule in rules[:1]
    }
    n = len(stream)
    print(
        f"leadscore engine bench: {n:,} events over {len(profiles):,} leads, "
        f"model {model.id}, {pinned} of {os.cpu_count()}, Python {sys.version.split()[0]}; "
        f"email events {'plain' if args.plain_email else 'as the adapters pass them'}"
    )

    timings = best_of_interleaved(
        args.repeats,
        {
            "engine": lambda: run_engine(model, profiles, stream),
            "minimal": lambda: run_minimal(points, stream),
        },
    )
    engine_best, engine_median, engine_cpu = timings["engine"]
    minimal_best, minimal_median, minimal_cpu = timings["minimal"]
    engine_rate, minimal_rate = n / engine_best, n / minimal_best
    print(
        f"  engine (one call per lead):  {engine_rate:>12,.0f} events/s "
        f"(best of {args.repeats}: {engine_best:.3f} s, median {engine_median:.3f} s, "
        f"CPU {engine_cpu:.3f} s)"
    )
    print(
        f"  minimal loop (sum per type): {minimal_rate:>12,.0f} events/s "
        f"(best of {args.repeats}: {minimal_best:.3f} s, median {minimal_median:.3f} s, "
        f"CPU {minimal_cpu:.3f} s)"
    )
    print(f"  ratio: the engine is {minimal_rate / engine_rate:,.1f}x slower than the minimal loop")
    print(f"  ratio in CPU time: {engine_cpu / minimal_cpu:,.1f}x")
    if args.breakdown:
        breakdown(model, profiles, stream)
    if args.floor:
        floor(model, profiles, stream, points)
    if args.per_event:
        per_event_best, _ = best_of(1, lambda: run_engine_per_event(model, profiles, stream))
        print(f"  engine (one call per event): {n / per_event_best:>12,.0f} events/s")
    hostile_regex(args.model)
    target = "met" if engine_rate >= 100_000 else "NOT met"
    print(f"  target >= 100,000 events/s: {target}")


if __name__ == "__main__":
    main()
