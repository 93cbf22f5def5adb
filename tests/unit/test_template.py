"""template.yaml agrees with the code: routes and auth, settings, queues, policies, schedule."""

from __future__ import annotations

import json
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from leadscore.settings import Settings
from leadscore_tools.intrinsics import Naming, Resolver
from leadscore_tools.template import load_template

from tests.conftest import ROOT, LambdaContext

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
GLOBALS: dict[str, Any] = TEMPLATE["Globals"]["Function"]
FUNCTIONS = {
    name: resource["Properties"]
    for name, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::Function"
}
KEY_REQUIRED = "a valid x-api-key header is required"
SETTING_VARIABLES = {s.name: s.metadata.get("variables", ()) for s in fields(Settings)}

# What each function cannot run without (settings with a sensible default are not listed).
REQUIRED_ENVIRONMENT = {
    "ApiFunction": {"TABLE_NAME", "QUEUE_URL", "RESCORE_QUEUE_URL", "TOPIC_ARN"},
    "PublicApiFunction": {"TABLE_NAME", "QUEUE_URL", "LEADSCORE_CORS_ORIGINS",
                          "LEADSCORE_WEBHOOK_SSM_PATH"},
    "AuthorizerFunction": {"TABLE_NAME"},
    "ScorerFunction": {"TABLE_NAME", "TOPIC_ARN"},
    "RescoreFunction": {"TABLE_NAME", "TOPIC_ARN", "RESCORE_QUEUE_URL"},
    "DecayFunction": {"TABLE_NAME", "TOPIC_ARN"},
    "SlackNotifierFunction": {"SLACK_WEBHOOK_PARAMETER"},
    "ConsoleAssetsFunction": set(),  # its custom resource's properties carry what it needs
}  # fmt: skip
# SAM policy templates that grant only what their names say, on the resource they are given.
POLICY_TEMPLATES = {
    "DynamoDBCrudPolicy",
    "DynamoDBReadPolicy",
    "SQSSendMessagePolicy",
    "SQSPollerPolicy",
    "SNSPublishMessagePolicy",
    "SSMParameterWithSlashPrefixReadPolicy",
}


def setting(function: dict[str, Any], key: str) -> Any:
    return function.get(key, GLOBALS.get(key))


def environment(function: dict[str, Any]) -> dict[str, Any]:
    variables = dict(GLOBALS["Environment"]["Variables"])
    variables.update(function.get("Environment", {}).get("Variables", {}))
    return variables


API_FUNCTIONS = ("ApiFunction", "PublicApiFunction")


def declared_routes() -> dict[tuple[str, str], bool]:
    """(method, path) -> whether API Gateway requires the API key (its authorizer)."""
    default = RESOURCES["Api"]["Properties"]["Auth"]["DefaultAuthorizer"]
    routes = {}
    for function in API_FUNCTIONS:
        for event in FUNCTIONS[function]["Events"].values():
            assert event["Type"] == "Api"
            properties = event["Properties"]
            assert properties["RestApiId"] == {"Ref": "Api"}
            key = (properties["Method"].upper(), properties["Path"])
            assert key not in routes, f"{key} is declared twice"
            routes[key] = properties.get("Auth", {}).get("Authorizer", default) != "NONE"
    return routes


def test_the_public_function_serves_exactly_the_public_routes() -> None:
    """Least privilege: no keyed route runs in the public function's role, and back."""
    for function in API_FUNCTIONS:
        for event in FUNCTIONS[function]["Events"].values():
            public = event["Properties"].get("Auth", {}).get("Authorizer") == "NONE"
            assert public == (function == "PublicApiFunction"), (function, event)


def code_routes() -> list[tuple[str, str]]:
    from leadscore.api.openapi import operations, resolver

    return [(method.upper(), path) for method, path in operations(resolver(api_key="k"))]


def test_every_route_of_the_code_is_declared_and_every_declared_route_exists() -> None:
    assert sorted(code_routes()) == sorted(declared_routes())


def test_each_route_requires_the_api_key_in_the_template_exactly_when_the_code_does(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The code's own key check (local stack, tests) and API Gateway's must agree."""
    from leadscore.api.openapi import resolver

    from tests.integration.api_client import proxy_event

    app = resolver(api_key="k")
    for (method, path), required in declared_routes().items():
        concrete = re.sub(r"\{(\w+)\}", "x", path)
        answer = app.resolve(proxy_event(method, concrete), LambdaContext())  # type: ignore[arg-type]
        body = json.loads(answer["body"]) if answer["statusCode"] == 401 else {}  # t.js: script
        refused = answer["statusCode"] == 401 and body.get("detail") == KEY_REQUIRED
        assert refused == required, (method, path, answer["statusCode"], body)


def test_public_routes_are_throttled_by_the_stage() -> None:
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    throttled = {
        # "/~1v1~1forms" is /v1/forms ("~1" escapes "/"); "/*" is every route
        (s["HttpMethod"], s["ResourcePath"][1:].replace("~1", "/") or "/*")
        for s in settings
        if "ThrottlingRateLimit" in s
    }
    public = {route for route, required in declared_routes().items() if not required}
    assert ("*", "*") in throttled  # a stage-wide default
    assert {("POST", "/v1/forms"), ("POST", "/v1/webhooks/{provider}")} <= public & throttled


def read_by_code() -> set[str]:
    """Every environment variable a function or the runtime package reads by name."""
    pattern = re.compile(r"""(?:environ|env)(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = list((ROOT / "functions").glob("*/app.py"))
    sources += list((ROOT / "shared" / "leadscore").rglob("*.py"))
    read = {name for source in sources for name in pattern.findall(source.read_text())}
    return read | {name for names in SETTING_VARIABLES.values() for name in names}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_gets_the_settings_it_needs(name: str) -> None:
    function = FUNCTIONS[name]
    variables = environment(function)
    assert REQUIRED_ENVIRONMENT[name] <= set(variables), name
    handler_source = (ROOT / function["CodeUri"] / "app.py").read_text()
    for required in re.findall(r"""require\(([^)]*)\)""", handler_source):
        for setting in re.findall(r"""["'](\w+)["']""", required):
            variable = SETTING_VARIABLES[setting][0]
            assert variable in variables, f"{name} requires {variable}, the template sets none"


def test_every_variable_the_template_sets_is_read_by_someone() -> None:
    read = read_by_code()
    for name, function in FUNCTIONS.items():
        for variable in environment(function):
            if not variable.startswith("POWERTOOLS_"):  # read by the Powertools library
                assert variable in read, f"{name}: {variable} is set but never read"
    assert set(REQUIRED_ENVIRONMENT) == set(FUNCTIONS)


def sqs_sources() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, event["Properties"]["Queue"]["Fn::GetAtt"][0], event["Properties"])
        for name, function in FUNCTIONS.items()
        for event in function.get("Events", {}).values()
        if event["Type"] == "SQS"
    ]


@pytest.mark.parametrize(("function", "queue", "source"), sqs_sources(), ids=lambda v: str(v)[:20])
def test_queues_redrive_to_a_dlq_and_outlast_six_function_timeouts(
    function: str, queue: str, source: dict[str, Any]
) -> None:
    properties = RESOURCES[queue]["Properties"]
    assert properties["VisibilityTimeout"] == 6 * setting(FUNCTIONS[function], "Timeout")
    redrive = properties["RedrivePolicy"]
    dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert RESOURCES[dlq]["Type"] == "AWS::SQS::Queue"
    assert 1 < redrive["maxReceiveCount"] <= 10
    assert RESOURCES[dlq]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["ScalingConfig"]["MaximumConcurrency"] >= 2
    assert f"{dlq}Alarm" in RESOURCES


def test_every_queue_and_topic_is_encrypted() -> None:
    for name, resource in RESOURCES.items():
        if resource["Type"] in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
            assert resource["Properties"].get("KmsMasterKeyId"), name


def actions(statement: dict[str, Any]) -> list[str]:
    value = statement.get("Action", [])
    return [value] if isinstance(value, str) else list(value)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_policies_are_least_privilege(name: str) -> None:
    for policy in FUNCTIONS[name].get("Policies", []):
        assert isinstance(policy, dict), f"{name}: managed policy {policy!r}"
        [(kind, value)] = policy.items()
        if kind == "Statement":
            for statement in value:
                assert statement["Effect"] == "Allow"
                assert statement["Resource"] != "*", f"{name}: {statement}"
                for action in actions(statement):
                    assert "*" not in action, f"{name}: {action}"
        else:
            assert kind in POLICY_TEMPLATES, f"{name}: {kind}"
            assert all(v for v in value.values()), f"{name}: {kind} needs its resource"
    # Secrets come from SSM under a parameter: the template holds no literal path or URL.
    for variable, value in environment(FUNCTIONS[name]).items():
        assert "hooks.slack.com" not in json.dumps(value), variable


def test_the_decay_schedule_retries_keeps_failures_and_has_a_timezone() -> None:
    [schedule] = [
        e["Properties"] for e in FUNCTIONS["DecayFunction"]["Events"].values()
        if e["Type"] == "ScheduleV2"
    ]  # fmt: skip
    assert schedule["ScheduleExpression"] == {"Ref": "DecaySchedule"}
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "DecayTimezone"}
    assert schedule["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dlq = schedule["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert RESOURCES[dlq]["Type"] == "AWS::SQS::Queue"
    assert json.loads(schedule["Input"]) == {"time": "<aws.scheduler.scheduled-time>"}
    assert FUNCTIONS["DecayFunction"]["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0] == dlq


def test_the_slack_notifier_exists_only_with_its_parameter() -> None:
    assert RESOURCES["SlackNotifierFunction"]["Condition"] == "HasSlack"
    for name, resource in RESOURCES.items():
        if "SlackNotifier" in name:
            assert resource.get("Condition") == "HasSlack", name
    [event] = FUNCTIONS["SlackNotifierFunction"]["Events"].values()
    assert event["Type"] == "SNS" and event["Properties"]["RedrivePolicy"]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_group_with_a_retention(name: str) -> None:
    group = FUNCTIONS[name]["LoggingConfig"]["LogGroup"]["Ref"]
    properties = RESOURCES[group]["Properties"]
    assert properties["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert properties["KmsKeyId"]
    assert GLOBALS["LoggingConfig"]["LogFormat"] == "JSON"
    assert setting(FUNCTIONS[name], "Architectures") == ["arm64"]
    assert setting(FUNCTIONS[name], "Runtime") == "python3.13"
    assert Path(ROOT / FUNCTIONS[name]["CodeUri"] / "app.py").is_file()
    assert f"{name}ErrorsAlarm" in RESOURCES and f"{name}ThrottlesAlarm" in RESOURCES


def test_outputs_tell_a_deployer_where_everything_is() -> None:
    assert {
        "ApiUrl", "FormEndpoint", "WebhookUrlPattern", "SalesTopicArn",
        "LeadsTableName", "ScoringQueueUrl",
    } <= set(TEMPLATE["Outputs"])  # fmt: skip


def test_api_gateways_own_refusals_are_problem_json() -> None:
    properties = RESOURCES["Api"]["Properties"]
    responses = properties["GatewayResponses"]
    assert {"DEFAULT_4XX", "DEFAULT_5XX", "THROTTLED", "UNAUTHORIZED"} <= set(responses)
    for name, response in responses.items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Content-Type"] == "'application/problem+json'", name
        # API Gateway substitutes $context values; $context.error.messageString is quoted.
        body = response["ResponseTemplates"]["application/json"]
        body = body.replace("$context.error.messageString", '"Forbidden"')
        document = json.loads(re.sub(r"\$context\.[\w.]+", "x", body))
        assert {"type", "title", "detail"} <= set(document), name
        if not name.startswith("DEFAULT_"):  # those cannot know their status
            status = int(response.get("StatusCode") or document["status"])
            assert document["status"] == status, name
    # What API Gateway itself can refuse with, for a Lambda proxy behind a Lambda authorizer.
    assert {
        "REQUEST_TOO_LARGE", "INTEGRATION_FAILURE", "INTEGRATION_TIMEOUT", "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN", "AUTHORIZER_FAILURE", "API_CONFIGURATION_ERROR",
    } <= set(responses)  # fmt: skip


def test_the_api_alarm_and_dashboard_watch_this_api() -> None:
    name = RESOURCES["Api"]["Properties"]["Name"]
    stage = RESOURCES["Api"]["Properties"]["StageName"]
    dimensions = {
        d["Name"]: d["Value"] for d in RESOURCES["Api5xxAlarm"]["Properties"]["Dimensions"]
    }
    assert dimensions == {"ApiName": name, "Stage": stage}
    alarms = [r for r in RESOURCES.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}] for a in alarms)
    for queue in (n for n, r in RESOURCES.items() if n.endswith("DLQ")):
        assert f"{queue}Alarm" in RESOURCES, queue


def test_the_dashboard_body_is_json_once_substituted() -> None:
    body = Resolver(TEMPLATE, {}, Naming("http://127.0.0.1:5000")).value(
        RESOURCES["Dashboard"]["Properties"]["DashboardBody"]
    )
    widgets = json.loads(body)["widgets"]
    titles = {w["properties"]["title"] for w in widgets}
    assert any("Dead-letter" in title for title in titles)
    assert any("API" in title for title in titles)


def test_no_route_pays_for_detailed_metrics() -> None:
    """Per-method metrics are billed as custom metrics; the alarms read the API's own."""
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    assert settings and not any(s.get("MetricsEnabled") for s in settings)
    dimensions = [
        {d["Name"] for d in resource["Properties"].get("Dimensions", [])}
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
        and resource["Properties"].get("Namespace") == "AWS/ApiGateway"
    ]
    assert dimensions and all(not {"Resource", "Method"} & names for names in dimensions)
