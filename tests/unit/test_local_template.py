"""The local stack reads its routes, queues, event sources and schedules from template.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from leadscore_tools.intrinsics import Naming, TemplateError
from leadscore_tools.template import TEMPLATE, load_template, read_stack

NAMING = Naming("http://127.0.0.1:5000")


def declared_events(kind: str) -> list[tuple[str, dict[str, Any]]]:
    resources = load_template()["Resources"]
    return [
        (logical_id, event["Properties"])
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function" and "Condition" not in resource
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == kind
    ]


def test_every_api_event_of_the_template_is_a_local_route() -> None:
    routes = {(r.method, r.path): r for r in read_stack(NAMING).routes}
    declared = declared_events("Api")
    assert declared, "the template declares API routes"
    assert len(routes) == len(declared)
    for function, properties in declared:
        route = routes[(properties["Method"].upper(), properties["Path"])]
        assert route.function == function
        required = (properties.get("Auth") or {}).get("ApiKeyRequired", False)
        assert route.api_key_required is required


def test_queue_event_sources_and_redrive_match_the_template() -> None:
    stack = read_stack(NAMING)
    resources = load_template()["Resources"]
    declared = declared_events("SQS")
    assert len(stack.sqs_sources) == len(declared)
    for source, (function, properties) in zip(stack.sqs_sources, declared, strict=True):
        assert source.function == function
        assert source.queue == properties["Queue"]["Fn::GetAtt"][0]
        assert source.batch_size == properties.get("BatchSize", 10)
        assert source.batching_window == properties.get("MaximumBatchingWindowInSeconds", 0)
        assert source.report_batch_item_failures is (
            "ReportBatchItemFailures" in properties.get("FunctionResponseTypes", [])
        )
        queue = stack.queues[source.queue]
        queue_properties = resources[source.queue]["Properties"]
        assert queue.visibility_timeout == queue_properties["VisibilityTimeout"]
        redrive = queue_properties["RedrivePolicy"]
        assert queue.dead_letter_queue == redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
        assert queue.max_receive_count == redrive["maxReceiveCount"]


def test_schedules_and_function_environment_are_resolved_to_local_names() -> None:
    stack = read_stack(NAMING)
    template = load_template()
    declared = declared_events("ScheduleV2")

    def parameter(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            return template["Parameters"][value["Ref"]]["Default"]
        return value

    assert [(s.function, s.expression, s.timezone) for s in stack.schedules] == [
        (
            f,
            parameter(p["ScheduleExpression"]),
            parameter(p.get("ScheduleExpressionTimezone", "UTC")),
        )
        for f, p in declared
    ]
    assert stack.schedules[0].expression.startswith(("cron(", "rate("))
    assert "<aws.scheduler.scheduled-time>" in (stack.schedules[0].input or "")
    api = stack.functions["ApiFunction"]
    assert api.environment["QUEUE_URL"] == stack.queues["ScoringQueue"].url
    assert api.environment["QUEUE_URL"].startswith("http://127.0.0.1:5000/123456789012/")
    assert api.environment["TABLE_NAME"] == stack.tables["LeadsTable"].name
    assert api.environment["TOPIC_ARN"].startswith("arn:aws:sns:us-east-1:")
    timeout = template["Resources"]["ApiFunction"]["Properties"].get(
        "Timeout", template["Globals"]["Function"].get("Timeout", 3)
    )
    assert api.timeout == timeout
    assert stack.tables["LeadsTable"].ttl_attribute == "expires_at"


def test_conditional_resources_follow_their_parameters() -> None:
    without = read_stack(NAMING)
    assert "SlackNotifierFunction" not in without.functions
    assert "SlackNotifierFunction" in without.skipped
    with_slack = read_stack(NAMING, {"SlackWebhookParameter": "/leadscore/slack-url"})
    assert "SlackNotifierFunction" in with_slack.functions
    assert [s.function for s in with_slack.sns_sources] == ["SlackNotifierFunction"]
    with pytest.raises(TemplateError, match="unknown template parameters"):
        read_stack(NAMING, {"NoSuchParameter": "x"})


def test_a_route_added_to_the_template_appears_locally(tmp_path: Path) -> None:
    text = TEMPLATE.read_text(encoding="utf-8").replace(
        "        Health: {Type: Api,",
        '        Ping: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/v1/ping/{proxy+}",'
        " Method: ANY, Auth: {ApiKeyRequired: true}}}\n        Health: {Type: Api,",
        1,
    )
    copy = tmp_path / "template.yaml"
    copy.write_text(text, encoding="utf-8")
    routes = {(r.method, r.path): r for r in read_stack(NAMING, path=copy).routes}
    assert routes[("ANY", "/v1/ping/{proxy+}")].api_key_required is True
