"""Read template.yaml (CloudFormation tags included) so tests and the local stack share it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from leadscore_tools.intrinsics import Naming, Resolver, TemplateError

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Loads !Ref, !Sub, !GetAtt ... as {"Ref": ...} / {"Fn::Sub": ...} like CloudFormation."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    document: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    return document


def table_definition(
    logical_id: str = "LeadsTable",
    path: Path = TEMPLATE,
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """boto3 create_table arguments for a table declared in the template, its conditional
    parts (the list indexes) as the parameters (by default their defaults) give them."""
    template = load_template(path)
    resolver = Resolver(template, parameters or {}, Naming(endpoint=""))
    return _table_definition(resolver.value(template["Resources"][logical_id]["Properties"]))


def _table_definition(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        key: properties[key]
        for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        if key in properties
    }


def ttl_attribute(logical_id: str = "LeadsTable", path: Path = TEMPLATE) -> str | None:
    return _ttl_attribute(load_template(path)["Resources"][logical_id]["Properties"])


def _ttl_attribute(properties: dict[str, Any]) -> str | None:
    spec = properties.get("TimeToLiveSpecification")
    return spec["AttributeName"] if spec and spec.get("Enabled") else None


# --- The stack the template declares, resolved for a local stand-in (the local stack) ---


@dataclass(frozen=True)
class Authorizer:
    """A Lambda REQUEST authorizer of the Api: its function and the headers it is keyed on."""

    function: str  # logical id
    headers: tuple[str, ...]
    ttl: int  # seconds API Gateway caches an answer (the local gateway does not)


@dataclass(frozen=True)
class Route:
    """One API Gateway (REST) route: `Path` may hold `{name}` and `{proxy+}` parameters."""

    method: str  # upper case; ANY matches every method
    path: str
    api_key_required: bool
    function: str  # logical id
    authorizer: Authorizer | None = None


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    code_uri: Path
    handler: str  # module.function
    environment: dict[str, str]
    timeout: int
    memory: int


@dataclass(frozen=True)
class Queue:
    logical_id: str
    name: str
    url: str
    arn: str
    visibility_timeout: int
    dead_letter_queue: str | None  # logical id
    max_receive_count: int | None
    fifo: bool


@dataclass(frozen=True)
class SqsSource:
    """An SQS event source mapping: which queue feeds which function, and how."""

    function: str
    queue: str  # logical id
    batch_size: int
    batching_window: float  # seconds
    report_batch_item_failures: bool
    enabled: bool


@dataclass(frozen=True)
class Schedule:
    function: str
    event: str  # the event's name under the function (e.g. Daily)
    expression: str  # cron(...), rate(...) or at(...)
    timezone: str
    input: str | None
    enabled: bool
    retry_attempts: int  # EventBridge Scheduler's RetryPolicy.MaximumRetryAttempts


@dataclass(frozen=True)
class Topic:
    logical_id: str
    name: str
    arn: str


@dataclass(frozen=True)
class SnsSource:
    function: str
    topic: str  # logical id


@dataclass(frozen=True)
class Table:
    logical_id: str
    name: str
    definition: dict[str, Any]
    ttl_attribute: str | None


@dataclass
class Stack:
    functions: dict[str, Function] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    stage: str = "prod"
    binary_media_types: list[str] = field(default_factory=list)
    gateway_responses: dict[str, dict[str, Any]] = field(default_factory=dict)  # by type
    queues: dict[str, Queue] = field(default_factory=dict)
    sqs_sources: list[SqsSource] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    topics: dict[str, Topic] = field(default_factory=dict)
    sns_sources: list[SnsSource] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # resources whose Condition is false


def _merge_globals(globals_: dict[str, Any], properties: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals: maps merge (the function wins), everything else is overridden."""
    merged = dict(globals_)
    for key, value in properties.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_globals(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_stack(
    naming: Naming, parameters: dict[str, str] | None = None, path: Path = TEMPLATE
) -> Stack:
    """What the local stack emulates: functions, API routes, queues, event sources,
    schedules, topics and tables, with every reference resolved to local names."""
    template = load_template(path)
    resolver = Resolver(template, parameters or {}, naming)
    stack = Stack()
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    api_globals = (template.get("Globals") or {}).get("Api") or {}
    events: list[tuple[str, str, dict[str, Any]]] = []
    for logical_id, resource in resolver.resources.items():
        if not resolver.exists(logical_id):
            stack.skipped.append(logical_id)
            continue
        kind = resource.get("Type")
        raw = resource.get("Properties") or {}
        if kind == "AWS::Serverless::Function":
            raw_events = raw.get("Events") or {}
            merged = _merge_globals(
                function_globals, {k: v for k, v in raw.items() if k != "Events"}
            )
            properties = _resolved(resolver, merged, _FUNCTION_KEYS)
            variables = (properties.get("Environment") or {}).get("Variables") or {}
            stack.functions[logical_id] = Function(
                logical_id=logical_id,
                name=resolver.attribute(logical_id, "Ref"),
                code_uri=(path.parent / str(properties.get("CodeUri", "."))).resolve(),
                handler=str(properties["Handler"]),
                environment={k: _text(v) for k, v in variables.items()},
                timeout=int(properties.get("Timeout", 3)),
                memory=int(properties.get("MemorySize", 128)),
            )
            events += [(logical_id, name, event) for name, event in raw_events.items()]
        elif kind == "AWS::Serverless::Api":
            properties = _resolved(resolver, _merge_globals(api_globals, raw), _API_KEYS)
            stack.stage = str(properties.get("StageName", stack.stage))
            stack.binary_media_types = [
                str(t).replace("~1", "/") for t in properties.get("BinaryMediaTypes") or []
            ]
            stack.gateway_responses = dict(properties.get("GatewayResponses") or {})
        elif kind == "AWS::SQS::Queue":
            properties = _resolved(resolver, raw, _QUEUE_KEYS)
            attributes = naming.physical(logical_id, resource)
            redrive = properties.get("RedrivePolicy") or {}
            if isinstance(redrive, str):
                redrive = json.loads(redrive)
            dlq = _logical_by(resolver, "Arn", redrive.get("deadLetterTargetArn"))
            stack.queues[logical_id] = Queue(
                logical_id=logical_id,
                name=attributes["QueueName"],
                url=attributes["QueueUrl"],
                arn=attributes["Arn"],
                visibility_timeout=int(properties.get("VisibilityTimeout", 30)),
                dead_letter_queue=dlq,
                max_receive_count=int(redrive["maxReceiveCount"]) if dlq else None,
                fifo=bool(properties.get("FifoQueue", False)),
            )
        elif kind == "AWS::SNS::Topic":
            attributes = naming.physical(logical_id, resource)
            stack.topics[logical_id] = Topic(logical_id, attributes["TopicName"], attributes["Ref"])
        elif kind == "AWS::DynamoDB::Table":
            stack.tables[logical_id] = Table(
                logical_id=logical_id,
                name=naming.physical(logical_id, resource)["Ref"],
                definition=_table_definition(resolver.value(raw)),
                ttl_attribute=_ttl_attribute(raw),
            )
    for function, name, event in events:
        _read_event(stack, resolver, function, name, event, template)
    return stack


# Only what the local stack uses is resolved: policies, alarms and the like may hold
# intrinsic functions it has no reason to evaluate.
_FUNCTION_KEYS = ("CodeUri", "Handler", "Environment", "Timeout", "MemorySize", "FunctionName")
_API_KEYS = ("StageName", "BinaryMediaTypes", "GatewayResponses")
_QUEUE_KEYS = ("VisibilityTimeout", "RedrivePolicy", "FifoQueue", "QueueName")


def _resolved(resolver: Resolver, properties: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return resolver.value({key: properties[key] for key in keys if key in properties})


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _logical_by(resolver: Resolver, attribute: str, value: Any) -> str | None:
    """The logical id of the resource whose `attribute` resolves to `value`."""
    if not value:
        return None
    for logical_id, resource in resolver.resources.items():
        if resolver.naming.physical(logical_id, resource).get(attribute) == value:
            return logical_id
    raise TemplateError(f"no resource of the template has {attribute} {value}")


def _authorizer(api_auth: dict[str, Any], name: str | None) -> Authorizer | None:
    """The route's Lambda authorizer (`NONE` or none: the route is public)."""
    if not name or name == "NONE":
        return None
    spec = (api_auth.get("Authorizers") or {}).get(name)
    if spec is None:
        raise TemplateError(f"the Api has no authorizer {name}")
    arn = spec.get("FunctionArn")
    if not (isinstance(arn, dict) and "Fn::GetAtt" in arn):
        raise TemplateError(f"authorizer {name}: FunctionArn must be !GetAtt <function>.Arn")
    if spec.get("FunctionPayloadType", "TOKEN") != "REQUEST":
        raise TemplateError(f"authorizer {name}: only REQUEST authorizers are emulated")
    identity = spec.get("Identity") or {}
    return Authorizer(
        function=str(arn["Fn::GetAtt"][0]),
        headers=tuple(str(h) for h in identity.get("Headers") or ()),
        ttl=int(identity.get("ReauthorizeEvery", 300)),
    )


def _read_event(
    stack: Stack,
    resolver: Resolver,
    function: str,
    name: str,
    event: dict[str, Any],
    template: dict[str, Any],
) -> None:
    kind = event.get("Type")
    properties = resolver.value(event.get("Properties") or {})
    if kind == "Api":
        api_id = (event.get("Properties") or {}).get("RestApiId")
        api_name = api_id.get("Ref") if isinstance(api_id, dict) else None
        api = (template.get("Resources") or {}).get(api_name or "", {})
        api_auth = ((api.get("Properties") or {}).get("Auth")) or {}
        auth = properties.get("Auth") or {}
        required = auth.get("ApiKeyRequired", api_auth.get("ApiKeyRequired", False))
        stack.routes.append(
            Route(
                str(properties["Method"]).upper(),
                str(properties["Path"]),
                bool(required),
                function,
                _authorizer(api_auth, auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))),
            )
        )
    elif kind == "SQS":
        queue = _logical_by(resolver, "Arn", properties["Queue"])
        assert queue is not None
        stack.sqs_sources.append(
            SqsSource(
                function=function,
                queue=queue,
                batch_size=int(properties.get("BatchSize", 10)),
                batching_window=float(properties.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures"
                in (properties.get("FunctionResponseTypes") or []),
                enabled=bool(properties.get("Enabled", True)),
            )
        )
    elif kind in ("ScheduleV2", "Schedule"):
        expression = properties.get("ScheduleExpression") or properties.get("Schedule")
        state = properties.get("State", "ENABLED")
        enabled = bool(properties.get("Enabled", True)) and str(state).upper() == "ENABLED"
        stack.schedules.append(
            Schedule(
                function=function,
                event=name,
                expression=str(expression),
                timezone=str(properties.get("ScheduleExpressionTimezone") or "UTC"),
                input=properties.get("Input"),
                enabled=enabled,
                retry_attempts=int(
                    (properties.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185)
                ),
            )
        )
    elif kind == "SNS":
        topic = _logical_by(resolver, "Ref", properties["Topic"])
        assert topic is not None
        stack.sns_sources.append(SnsSource(function, topic))
