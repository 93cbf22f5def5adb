"""The local stack: starts moto, creates the template's resources, publishes the models, then
serves the API, polls the queues and fires the schedules until it is stopped."""

from __future__ import annotations

import json
import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from leadscore_tools.intrinsics import Naming
from leadscore_tools.local import outbox as outbox_module
from leadscore_tools.local.console import SignIn, console_config, create_sign_in
from leadscore_tools.local.console_files import ConsoleFiles
from leadscore_tools.local.functions import FunctionMissing, LocalFunction
from leadscore_tools.local.gateway import ApiServer, Gateway, Reply, Request, problem
from leadscore_tools.local.logs import log
from leadscore_tools.local.moto_server import MotoServer, check_port_free
from leadscore_tools.local.poller import SqsPoller
from leadscore_tools.local.resources import Clients, create_resources, publish_models
from leadscore_tools.local.scheduler import Scheduler, Timing, run_scheduled
from leadscore_tools.local.site import SiteServer, serve_site, site_parameters
from leadscore_tools.template import ROOT, TEMPLATE, Schedule, Stack, read_stack

HOST = "127.0.0.1"  # loopback only, always
REGION = "us-east-1"
LOCAL_MODEL_CACHE = "2"  # seconds
# The local keys of the other scopes (contract §3); `Options.api_key` is the admin key.
LOCAL_KEYS = {"local-ingest-key": ("ingest",), "local-sales-key": ("sales",)}


@dataclass
class Options:
    api_port: int = 3000
    moto_port: int = 5000
    api_key: str = "local-dev-key"  # admin
    keys: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(LOCAL_KEYS))
    parameters: dict[str, str] = field(default_factory=dict)
    ssm: dict[str, str] = field(default_factory=dict)  # SecureString parameters to create
    schedules: bool = True
    retry_seconds: int = 2  # a failed SQS record is visible again after this long
    verbose: bool = False
    console: TextIO | None = None
    site_port: int = 0  # the demo website (examples/site); 0: not served
    models: Path = ROOT / "models"
    template: Path = TEMPLATE


class DrainTimeout(Exception):
    def __init__(self, pending: dict[str, int]) -> None:
        super().__init__(f"still pending: {pending}")
        self.pending = pending


class LocalStack:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.stack: Stack | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[SqsPoller] = []
        self.scheduler: Scheduler | None = None
        self.outbox: outbox_module.Outbox | None = None
        self.models: list[tuple[str, int]] = []
        self.startup_seconds = 0.0
        self.timings: list[tuple[str, float]] = []
        self._lap_started = 0.0
        self._moto: MotoServer | None = None
        self._api: ApiServer | None = None
        self._api_thread: threading.Thread | None = None
        self._clients: Clients | None = None
        self.site: SiteServer | None = None
        self.sign_in: SignIn | None = None  # the console's user pool and demo users

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.options.api_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{HOST}:{self.options.moto_port}"

    def start(self) -> None:
        """Everything up, in order; `startup_seconds` is how long it took."""
        started = self._lap_started = time.perf_counter()
        check_port_free(HOST, self.options.api_port, "the API")
        stack = self._read_template()
        self._start_aws(stack)
        self._load_functions(stack)
        self._start_workers(stack)
        self._serve(stack)
        self.site = serve_site(HOST, self.options.site_port, self.api_url)
        self.startup_seconds = time.perf_counter() - started

    def _read_template(self) -> Stack:
        parameters = site_parameters(self.options.parameters, self.options.site_port)
        self.stack = read_stack(Naming(self.moto_url, REGION), parameters, self.options.template)
        self._set_environment(self.stack)
        self._lap("template read")
        return self.stack

    def _start_aws(self, stack: Stack) -> None:
        """moto, the resources of the template, the outbox, and the published models."""
        port = self.options.api_port  # the console signs in at moto from the API's origin
        origins = (f"http://{HOST}:{port}", f"http://localhost:{port}")
        self._moto = MotoServer(HOST, self.options.moto_port, console_origins=origins)
        self._moto.start()
        self._lap("moto started")
        self._clients = Clients(self.moto_url, REGION)
        self.outbox = outbox_module.Outbox(
            {t.arn for t in stack.topics.values()}, self.options.console
        )
        outbox_module.install(self.outbox)
        create_resources(stack, self._clients)
        self._create_sign_in()
        for name, value in self.options.ssm.items():  # secrets the functions read from SSM
            self._clients.client("ssm").put_parameter(
                Name=name, Value=value, Type="SecureString", Overwrite=True
            )
        self._lap("resources created")
        self._create_keys()
        self.models = publish_models(self.options.models)
        self._lap("models published")

    def _create_keys(self) -> None:
        """The API keys of the banner, stored hashed as `leadscore keys create` stores them."""
        from leadscore.adapters.api_keys import ApiKeys
        from leadscore.settings import settings

        assert self._clients is not None
        keys = ApiKeys(self._clients.client("dynamodb"), settings().table_name)
        now = datetime.now(UTC)
        wanted = {self.options.api_key: ("admin",), **self.options.keys}
        for key, scopes in wanted.items():
            keys.create(f"local {' '.join(scopes)}", scopes, now, key=key)

    def _create_sign_in(self) -> None:
        """The console's user pool in moto; the authorizer (loaded after this) trusts it."""
        from leadscore.settings import settings

        assert self._clients is not None
        naming = Naming(self.moto_url, REGION)
        cognito = self._clients.client("cognito-idp")
        self.sign_in = create_sign_in(cognito, naming, self.options.template)
        if self.sign_in is not None:
            os.environ.update(self.sign_in.environment())
            settings.cache_clear()

    def console_config(self) -> dict[str, str] | None:
        """What `/console/config.json` answers (None: the template has no user pool)."""
        return console_config(self.sign_in, self.moto_url) if self.sign_in else None

    @property
    def keys(self) -> dict[str, tuple[str, ...]]:
        """Every key the stack accepts, with its scopes (for the banner)."""
        return {self.options.api_key: ("admin",), **self.options.keys}

    def _load_functions(self, stack: Stack) -> None:
        self.functions = {
            logical_id: LocalFunction(spec, REGION) for logical_id, spec in stack.functions.items()
        }
        # The API's functions are imported now, so the first request does not pay for it;
        # the queue pollers import theirs in their own threads, the scheduler on first use.
        authorizers = {r.authorizer.function for r in stack.routes if r.authorizer}
        for logical_id in {route.function for route in stack.routes} | authorizers:
            self.functions[logical_id].load_if_present()
        self._lap("functions loaded")

    def _start_workers(self, stack: Stack) -> None:
        """SNS subscribers, SQS pollers, schedules."""
        assert self._clients is not None
        self._subscribe_functions(stack)
        for source in stack.sqs_sources:
            if source.enabled:
                poller = SqsPoller(
                    source,
                    stack.queues[source.queue],
                    self.functions[source.function],
                    self._clients.client("sqs"),
                    REGION,
                    self.options.retry_seconds,
                )
                self.pollers.append(poller)
                poller.start()
        if self.options.schedules:
            self.scheduler = Scheduler([(s, self.functions[s.function]) for s in stack.schedules])
            self.scheduler.start()

    def _serve(self, stack: Stack) -> None:
        gateway = Gateway(
            stack.routes,
            self.functions,
            self.options.api_key,
            stack.stage,
            stack.binary_media_types,
            {
                ("GET", "/_local/outbox"): self._get_outbox,
                ("DELETE", "/_local/outbox"): self._clear_outbox,
                ("POST", "/_local/drain"): self._drain_route,
                ("GET", "/_local/queues"): self._queues_route,
                ("POST", "/_local/schedule/{function}"): self._schedule_route,
            },
            stack.gateway_responses,
            console=ConsoleFiles(self.console_config),
        )
        self._api = ApiServer(HOST, self.options.api_port, gateway)
        self._api_thread = threading.Thread(target=self._api.serve_forever, name="api", daemon=True)
        self._api_thread.start()
        self._lap("serving")

    def _lap(self, phase: str) -> None:
        """Startup phases, for --verbose: where the seconds before ready go."""
        now = time.perf_counter()
        self.timings.append((phase, now - self._lap_started))
        log.debug("start: %s in %.2f s", phase, now - self._lap_started)
        self._lap_started = now

    def _set_environment(self, stack: Stack) -> None:
        """One process stands in for every function: the union of their environments (the
        template gives them no conflicting values), pointed at moto."""
        environment: dict[str, str] = {}
        for function in stack.functions.values():
            for name, value in function.environment.items():
                if environment.setdefault(name, value) != value:
                    log.warning("%s differs between functions; %s is used", name, environment[name])
        environment.update(
            AWS_ENDPOINT_URL=self.moto_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 (fake: moto accepts any)
            AWS_SESSION_TOKEN="testing",  # noqa: S106
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            LEADSCORE_API_KEY=self.options.api_key,
            POWERTOOLS_TRACE_DISABLED="true",  # no X-Ray daemon here
        )
        # One process serves every function, so no container lags behind a newly published
        # model: a short cache makes a PUT /v1/models (and a rescore's settling) take effect
        # in seconds instead of a minute.
        environment.setdefault(
            "MODEL_CACHE_SECONDS", os.environ.get("MODEL_CACHE_SECONDS") or LOCAL_MODEL_CACHE
        )
        if not self.options.verbose:  # the console is for the outbox; --verbose for the rest
            environment.update(POWERTOOLS_LOG_LEVEL="WARNING", POWERTOOLS_METRICS_DISABLED="true")
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        no_proxy = [p for p in os.environ.get("NO_PROXY", "").split(",") if p]
        environment["NO_PROXY"] = environment["no_proxy"] = ",".join(
            [*no_proxy, "127.0.0.1", "localhost"]
        )
        os.environ.update(environment)
        # Powertools warns on every invocation that adds no metric; on a console, noise.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        from leadscore.settings import settings

        settings.cache_clear()  # in case anything read the settings before

    def _subscribe_functions(self, stack: Stack) -> None:
        """SNS event sources (the Slack notifier, when its parameter is set): invoked
        asynchronously with an SNS event for each message, as SNS delivers."""
        assert self.outbox is not None
        for source in stack.sns_sources:
            function = self.functions[source.function]
            topic_arn = stack.topics[source.topic].arn

            def deliver(
                arn: str,
                entry: dict[str, Any],
                function: LocalFunction = function,
                topic: str = topic_arn,
            ) -> None:
                if arn != topic:
                    return
                event = {"Records": [_sns_record(arn, entry)]}
                threading.Thread(
                    target=_invoke_quietly, args=(function, event), daemon=True
                ).start()

            self.outbox.listeners.append(deliver)

    # --- local routes ---

    def _get_outbox(self, request: Request, parameters: dict[str, str]) -> Reply:
        assert self.outbox is not None
        return Reply.json(200, self.outbox.entries())

    def _clear_outbox(self, request: Request, parameters: dict[str, str]) -> Reply:
        assert self.outbox is not None
        return Reply.json(200, {"cleared": self.outbox.clear()})

    def _drain_route(self, request: Request, parameters: dict[str, str]) -> Reply:
        started = time.perf_counter()
        try:
            not_consumed = self.drain(timeout=300)
        except DrainTimeout as error:
            return problem(
                504, "Gateway Timeout", f"the queues did not empty in time: {error.pending}"
            )
        document: dict[str, Any] = {
            "drained": True,
            "waited_ms": round((time.perf_counter() - started) * 1000),
        }
        if not_consumed:
            document["not_consumed"] = not_consumed
        return Reply.json(200, document)

    def _queues_route(self, request: Request, parameters: dict[str, str]) -> Reply:
        """Every queue of the template with its counts: a look at the dead-letter queues."""
        assert self.stack is not None and self._clients is not None
        sqs = self._clients.client("sqs")
        queues = {}
        for queue in self.stack.queues.values():
            counts = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])[
                "Attributes"
            ]
            queues[queue.logical_id] = {
                "url": queue.url,
                "visible": int(counts.get("ApproximateNumberOfMessages", 0)),
                "in_flight": int(counts.get("ApproximateNumberOfMessagesNotVisible", 0)),
                "delayed": int(counts.get("ApproximateNumberOfMessagesDelayed", 0)),
                "dead_letter_queue": queue.dead_letter_queue,
                "max_receive_count": queue.max_receive_count,
            }
        return Reply.json(200, queues)

    def _schedule_route(self, request: Request, parameters: dict[str, str]) -> Reply:
        found = self.find_schedule(parameters["function"])
        if found is None:
            known = ", ".join(self.schedule_names())
            return problem(
                404,
                "Not Found",
                f"no scheduled function {parameters['function']!r}; known: {known}",
            )
        schedule, function = found
        try:
            document = json.loads(request.body or b"{}")
            at = _instant(document.get("time") if isinstance(document, dict) else None)
        except ValueError as error:
            return problem(400, "Bad Request", f'expected {{"time": ISO-8601}}: {error}')
        try:
            outcome = run_scheduled(function, schedule, at)
        except FunctionMissing as error:
            return problem(503, "Service Unavailable", str(error))
        except Exception as error:
            log.exception("%s failed", function.name)
            return problem(
                502, "Bad Gateway", f"{function.name} failed: {type(error).__name__}: {error}"
            )
        if outcome["invocations"] == 1:
            del outcome["results"]
        return Reply.json(200, {"scheduled_time": at.isoformat(), **outcome})

    # --- operations ---

    def schedule_names(self) -> list[str]:
        assert self.stack is not None
        return [_short_name(self.functions[s.function]) for s in self.stack.schedules]

    def find_schedule(self, name: str) -> tuple[Schedule, LocalFunction] | None:
        assert self.stack is not None
        wanted = name.lower()
        for schedule in self.stack.schedules:
            function = self.functions[schedule.function]
            names = {
                _short_name(function),
                function.name.lower(),
                schedule.event.lower(),
                f"{function.name}.{schedule.event}".lower(),
            }
            if wanted in names:
                return schedule, function
        return None

    def next_runs(self) -> dict[str, datetime | None]:
        assert self.stack is not None
        now = datetime.now(UTC)
        runs: dict[str, datetime | None] = {}
        for schedule in self.stack.schedules:
            try:
                runs[schedule.event] = Timing(
                    schedule.expression, schedule.timezone, now
                ).next_after(now)
            except (ValueError, KeyError):
                runs[schedule.event] = None
        return runs

    def pending(self) -> tuple[dict[str, int], dict[str, int]]:
        """Messages still on (or in flight from) each polled queue; and those on queues whose
        function's code is missing, which nothing consumes."""
        assert self._clients is not None
        sqs = self._clients.client("sqs")
        pending: dict[str, int] = {}
        unconsumed: dict[str, int] = {}
        for poller in self.pollers:
            attributes = sqs.get_queue_attributes(
                QueueUrl=poller.queue.url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            count = sum(int(v) for v in attributes.values())
            (pending if poller.consuming else unconsumed)[poller.queue.logical_id] = count
        return pending, {k: v for k, v in unconsumed.items() if v}

    def drain(self, timeout: float) -> dict[str, int]:
        """Wait until every polled queue is empty and no batch is in flight (twice in a row,
        50 ms apart); returns the messages left on queues whose function is missing."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while True:
            pending, unconsumed = self.pending()
            quiet = quiet + 1 if not any(pending.values()) else 0
            if quiet >= 2:
                return unconsumed
            if time.monotonic() > deadline:
                raise DrainTimeout({k: v for k, v in pending.items() if v})
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop accepting requests, let in-flight batches finish, then stop moto."""
        if self.scheduler is not None:
            self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        if self._api is not None:
            self._api.shutdown()
            self._api.server_close()
        if self._api_thread is not None:
            self._api_thread.join(5)
        if self.site is not None:
            self.site.stop()
        for poller in self.pollers:
            poller.join(15)
        if self.scheduler is not None:
            self.scheduler.join(5)
        if self._moto is not None:
            self._moto.stop()
        outbox_module.install(None)


def _short_name(function: LocalFunction) -> str:
    """`decay` for DecayFunction in functions/decay/."""
    return function.spec.code_uri.name.lower()


def _instant(value: Any) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if not isinstance(value, str):
        raise ValueError("time must be a string")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sns_record(topic_arn: str, entry: dict[str, Any]) -> dict[str, Any]:
    message = entry["message"]
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{topic_arn}:local",
        "Sns": {
            "Type": "Notification",
            "MessageId": entry["message_id"],
            "TopicArn": topic_arn,
            "Subject": entry.get("subject"),
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": entry["published_at"],
            "MessageAttributes": {
                name: {"Type": "String", "Value": value}
                for name, value in entry.get("attributes", {}).items()
            },
        },
    }


def _invoke_quietly(function: LocalFunction, event: dict[str, Any]) -> None:
    try:
        function.invoke(event)
    except Exception:
        log.exception("%s failed on an SNS message", function.name)
