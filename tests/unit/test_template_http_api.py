"""The opt-in HTTP API of template.yaml (PublicHttpApi): absent by default; when on, the public
function's routes with payload 1.0, the REST stage's throttles, access logs, a line on the
dashboard and nothing more."""

from __future__ import annotations

import json
import re
from typing import Any

from leadscore_tools.intrinsics import Naming, Resolver
from leadscore_tools.template import load_template, read_stack

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
NAMING = Naming("http://127.0.0.1:5000")
ON = {"PublicHttpApi": "true"}
HTTP_TYPES = ("AWS::ApiGatewayV2::",)
STAGE: dict[str, Any] = RESOURCES["PublicHttpStage"]["Properties"]


def http_api_resources() -> set[str]:
    """Every resource that belongs to the HTTP API (its parts, logs, alarm, permission)."""
    return {
        name
        for name, resource in RESOURCES.items()
        if resource["Type"].startswith(HTTP_TYPES) or name.startswith("PublicHttp")
    }


def routes() -> dict[str, dict[str, Any]]:
    """The HTTP API's routes by route key ("POST /v1/forms")."""
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }


def public_function_routes() -> set[str]:
    events = RESOURCES["PublicApiFunction"]["Properties"]["Events"].values()
    return {f"{e['Properties']['Method'].upper()} {e['Properties']['Path']}" for e in events}


def rest_throttle(route_key: str) -> tuple[int, int]:
    """(rate, burst) the REST stage applies to this route (its MethodSettings, else `/*`)."""
    method, path = route_key.split(" ", 1)
    settings = RESOURCES["Api"]["Properties"]["MethodSettings"]
    # A ResourcePath is "/" then the path with each "/" escaped as "~1"; "/*" is every route.
    by_route = {(s["HttpMethod"], s["ResourcePath"][1:].replace("~1", "/")): s for s in settings}
    chosen = by_route.get((method, path)) or by_route[("*", "*")]
    return chosen["ThrottlingRateLimit"], chosen["ThrottlingBurstLimit"]


def http_throttle(route_key: str) -> tuple[int, int]:
    """(rate, burst) the HTTP API's stage applies to this route."""
    chosen = (STAGE.get("RouteSettings") or {}).get(route_key) or STAGE["DefaultRouteSettings"]
    return chosen["ThrottlingRateLimit"], chosen["ThrottlingBurstLimit"]


def requests_widget(parameters: dict[str, str]) -> list[list[Any]]:
    """The metrics of the dashboard's requests widget, the stack deployed with `parameters`."""
    body = Resolver(TEMPLATE, parameters, NAMING).value(
        RESOURCES["Dashboard"]["Properties"]["DashboardBody"]
    )
    [widget] = [
        w
        for w in json.loads(body)["widgets"]
        if w["properties"]["title"] == "API requests and errors"
    ]
    metrics: list[list[Any]] = widget["properties"]["metrics"]
    return metrics


def test_it_is_off_by_default_and_then_nothing_of_it_exists() -> None:
    parameter = PARAMETERS["PublicHttpApi"]
    assert parameter["Type"] == "String" and parameter["Default"] == "false"
    assert set(parameter["AllowedValues"]) == {"true", "false"}
    # What a deployer must know before turning it on.
    assert "1.00 USD instead of 3.50 USD per million" in parameter["Description"]
    assert "AWS WAF cannot attach to an HTTP API" in parameter["Description"]
    assert "AWS managed rules" in parameter["Description"]
    assert "only the REST stage's per-route throttles apply" in parameter["Description"]
    assert "fills the shared scoring queue" in parameter["Description"]
    assert len(parameter["Description"]) <= 4000  # CloudFormation's limit
    assert "REST routes stay" in parameter["Description"]

    off = Resolver(TEMPLATE, {}, NAMING)
    assert off.condition("HasPublicHttpApi") is False
    parts = http_api_resources()
    assert len(parts) >= 15  # api, integration, 10 routes, stage, logs, permission, alarm
    assert not [name for name in parts if off.exists(name)]
    assert set(parts) <= set(read_stack(NAMING).skipped)
    assert TEMPLATE["Outputs"]["PublicHttpApiUrl"]["Condition"] == "HasPublicHttpApi"


def test_turned_on_every_part_of_it_exists() -> None:
    on = Resolver(TEMPLATE, ON, NAMING)
    assert on.condition("HasPublicHttpApi") is True
    assert all(on.exists(name) for name in http_api_resources())
    assert not set(http_api_resources()) & set(read_stack(NAMING, ON).skipped)
    # The REST API and its web ACL stay, whatever this parameter says.
    assert on.exists("Api") and on.condition("HasWaf")


def test_the_routes_are_the_public_functions_and_go_to_it_with_payload_1_0() -> None:
    assert set(routes()) == public_function_routes()
    assert not any("segment" in key for key in routes())  # the keyed function's: REST only
    for key, route in routes().items():
        assert route["ApiId"] == {"Ref": "PublicHttpGateway"}, key
        assert route["AuthorizationType"] == "NONE", key
        assert route["Target"] == {"Fn::Sub": "integrations/${PublicHttpIntegration}"}, key
    [integration] = [
        r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::ApiGatewayV2::Integration"
    ]
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["PublicApiFunction", "Arn"]}
    # The REST proxy event: the public function reads it unchanged.
    assert integration["PayloadFormatVersion"] == "1.0"
    timeout = RESOURCES["PublicApiFunction"]["Properties"]["Timeout"]
    assert timeout * 1000 <= integration["TimeoutInMillis"] <= 30_000


def test_the_api_answers_its_own_preflights_never() -> None:
    api = RESOURCES["PublicHttpGateway"]["Properties"]
    assert api["ProtocolType"] == "HTTP"
    # A CorsConfiguration would make API Gateway answer OPTIONS itself, for any origin.
    assert "CorsConfiguration" not in api
    assert {"OPTIONS /v1/forms", "OPTIONS /v1/collect"} <= set(routes())


def test_each_route_is_throttled_as_on_the_rest_stage() -> None:
    assert STAGE["StageName"] == "$default"  # no stage in the path: the URL platforms sign
    assert STAGE["AutoDeploy"] is True
    for key in routes():
        assert http_throttle(key) == rest_throttle(key), key
    assert set(STAGE["RouteSettings"]) <= set(routes())
    # A route setting names a route by key: the stage waits for every route.
    route_resources = {n for n, r in RESOURCES.items() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    assert set(RESOURCES["PublicHttpStage"]["DependsOn"]) == route_resources
    # Per-route metrics bill as custom metrics: off (the stage's own metrics are free).
    everything = [STAGE["DefaultRouteSettings"], *STAGE["RouteSettings"].values()]
    assert not any(s.get("DetailedMetricsEnabled") for s in everything)


def test_access_logs_have_the_rest_logs_fields_and_no_personal_data() -> None:
    logs = STAGE["AccessLogSettings"]
    assert logs["DestinationArn"] == {"Fn::GetAtt": ["PublicHttpAccessLogGroup", "Arn"]}
    group = RESOURCES["PublicHttpAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert group["KmsKeyId"] == {"Fn::GetAtt": ["OpsKey", "Arn"]}

    http_format = logs["Format"]
    rest_format = RESOURCES["Api"]["Properties"]["AccessLogSetting"]["Format"]
    assert json.loads(http_format).keys() == json.loads(rest_format).keys()
    variables = set(re.findall(r"\$context\.[\w.]+", http_format))
    assert "$context.routeKey" in variables  # the route's template ("POST /v1/webhooks/{provider}")
    assert not {"$context.path", "$context.identity.sourceIp"} & variables


def test_the_http_apis_permission_lets_only_that_api_invoke_the_public_function() -> None:
    permission = RESOURCES["PublicHttpInvokePermission"]
    assert permission["Condition"] == "HasPublicHttpApi"
    on = Resolver(TEMPLATE, ON, NAMING)
    granted = on.value(permission["Properties"])
    assert granted["Action"] == "lambda:InvokeFunction"
    assert granted["FunctionName"] == "leadscore-PublicApiFunction"
    assert granted["Principal"] == "apigateway.amazonaws.com"
    # Any stage, method and route of this API (all of them are the public function's); a
    # wildcard where the API's id is would let any API in the account invoke the function.
    api_id = on.ref("PublicHttpGateway")
    assert granted["SourceArn"] == f"arn:aws:execute-api:us-east-1:123456789012:{api_id}/*"
    # SAM writes the REST routes' permissions at transform; by hand, only this one.
    by_hand = [
        name
        for name, r in RESOURCES.items()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert by_hand == ["PublicHttpInvokePermission"]


def test_the_dashboard_counts_its_requests_only_when_it_exists() -> None:
    http_count = ["AWS/ApiGateway", "Count", "ApiId", "PublicHttpGateway", "Stage", "$default"]
    off, on = requests_widget({}), requests_widget(ON)
    assert not [m for m in off if "ApiId" in m]
    assert on[: len(off)] == off  # the REST API's lines, unchanged
    [added] = on[len(off) :]
    assert added[:6] == http_count


def test_its_faults_alarm_and_its_url_is_an_output() -> None:
    alarm = RESOURCES["PublicHttp5xxAlarm"]["Properties"]
    assert alarm["MetricName"] == "5xx"  # an HTTP API's metric, not the REST API's 5XXError
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions == {"ApiId": {"Ref": "PublicHttpGateway"}, "Stage": "$default"}
    assert alarm["AlarmActions"] == [{"Ref": "OpsTopic"}]
    output = TEMPLATE["Outputs"]["PublicHttpApiUrl"]
    assert output["Value"] == {"Fn::GetAtt": ["PublicHttpGateway", "ApiEndpoint"]}
