"""The web ACL of template.yaml limits each client address on the public routes, and only there."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote

import pytest
from leadscore_tools.template import Naming, Resolver, load_template, read_stack

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
ACL: dict[str, Any] = RESOURCES["PublicWebAcl"]["Properties"]
RULES: dict[str, dict[str, Any]] = {rule["Name"]: rule for rule in ACL["Rules"]}
STAGE = RESOURCES["Api"]["Properties"]["StageName"]
NAMING = Naming("http://127.0.0.1:5000")
RATE_RULES = {
    name: rule for name, rule in RULES.items() if "RateBasedStatement" in rule["Statement"]
}
RATE_LIMITS = {
    "FormsPerAddress": "FormRateLimit",
    "TrackingPerAddress": "TrackingRateLimit",
    "WebhooksPerAddress": "WebhookRateLimit",
}


def waf_path(path: str, transformations: list[dict[str, Any]]) -> str:
    """The URI path after WAF's text transformations, in their priority order."""
    for transformation in sorted(transformations, key=lambda t: t["Priority"]):
        kind = transformation["Type"]
        if kind == "URL_DECODE":
            path = unquote(path)
        elif kind == "NORMALIZE_PATH":  # runs of slashes, then "." and ".." segments
            segments: list[str] = []
            for segment in re.sub("/+", "/", path).split("/")[1:]:
                if segment == "..":
                    segments = segments[:-1]
                elif segment != ".":
                    segments.append(segment)
            path = "/" + "/".join(segments)
        else:
            assert kind == "NONE", f"no emulation of {kind}"
    return path


def matches(statement: dict[str, Any], path: str) -> bool:
    """Whether a request for `path` matches a (scope-down) statement of the template."""
    ((kind, body),) = statement.items()
    if kind == "OrStatement":
        return any(matches(s, path) for s in body["Statements"])
    assert kind == "ByteMatchStatement", f"no emulation of {kind}"
    assert body["FieldToMatch"] == {"UriPath": {}}
    seen = waf_path(path, body["TextTransformations"])
    if body["PositionalConstraint"] == "STARTS_WITH":
        return seen.startswith(body["SearchString"])
    assert body["PositionalConstraint"] == "EXACTLY"
    return bool(seen == body["SearchString"])


def limited_by(path: str) -> list[str]:
    """The per-address rules that count a request for `path`."""
    return [
        name
        for name, rule in RATE_RULES.items()
        if matches(rule["Statement"]["RateBasedStatement"]["ScopeDownStatement"], path)
    ]


def declared_routes() -> list[tuple[str, str, bool]]:
    """(method, path, whether API Gateway requires the API key) of every API event."""
    default = RESOURCES["Api"]["Properties"]["Auth"]["DefaultAuthorizer"]
    return [
        (
            event["Properties"]["Method"].upper(),
            event["Properties"]["Path"],
            event["Properties"].get("Auth", {}).get("Authorizer", default) != "NONE",
        )
        for resource in RESOURCES.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "Api"
    ]


def test_the_web_acl_is_on_by_default_and_off_with_its_parameter() -> None:
    assert PARAMETERS["EnableWaf"]["Default"] == "true"
    assert set(PARAMETERS["EnableWaf"]["AllowedValues"]) == {"true", "false"}
    assert Resolver(TEMPLATE, {}, NAMING).condition("HasWaf") is True
    assert Resolver(TEMPLATE, {"EnableWaf": "false"}, NAMING).condition("HasWaf") is False
    waf = {name for name, r in RESOURCES.items() if r.get("Condition") == "HasWaf"}
    assert {"PublicWebAcl", "PublicWebAclAssociation", "PublicRateLimitAlarm"} <= waf
    assert ACL["Scope"] == "REGIONAL" and ACL["DefaultAction"] == {"Allow": {}}


def test_the_local_stack_reads_the_template_and_leaves_the_web_acl_out() -> None:
    stack = read_stack(NAMING)  # does not choke on the WAFv2 types
    assert stack.routes and "ApiFunction" in stack.functions
    assert "PublicWebAcl" not in stack.skipped
    skipped = read_stack(NAMING, {"EnableWaf": "false"}).skipped
    assert {"PublicWebAcl", "PublicWebAclAssociation", "PublicRateLimitAlarm"} <= set(skipped)


def test_the_association_targets_the_api_stage() -> None:
    association = RESOURCES["PublicWebAclAssociation"]["Properties"]
    assert association["WebACLArn"] == {"Fn::GetAtt": ["PublicWebAcl", "Arn"]}
    arn = association["ResourceArn"]["Fn::Sub"]
    # ${Api.Stage} is SAM's stage resource: referencing it orders the association after it.
    assert arn.endswith(":apigateway:${AWS::Region}::/restapis/${Api}/stages/${Api.Stage}")
    assert RESOURCES["Api"]["Properties"]["EndpointConfiguration"] == {"Type": "REGIONAL"}


@pytest.mark.parametrize("name", sorted(RATE_LIMITS))
def test_each_rate_rule_counts_per_client_address_with_its_parameter(name: str) -> None:
    statement = RATE_RULES[name]["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"  # no CloudFront in front: the client's own
    assert statement["EvaluationWindowSec"] in (60, 120, 300, 600)
    parameter = PARAMETERS[RATE_LIMITS[name]]
    assert statement["Limit"] == {"Ref": RATE_LIMITS[name]}
    assert parameter["MinValue"] == 10 and parameter["Default"] >= 10  # WAF's minimum
    assert RATE_RULES[name]["VisibilityConfig"]["CloudWatchMetricsEnabled"] is True


def test_forms_get_a_lower_limit_than_the_platforms_webhooks() -> None:
    form, webhook = PARAMETERS["FormRateLimit"], PARAMETERS["WebhookRateLimit"]
    assert form["Default"] < PARAMETERS["TrackingRateLimit"]["Default"] < webhook["Default"]


@pytest.mark.parametrize(
    ("path", "rules"),
    [
        ("/v1/forms", ["FormsPerAddress"]),
        ("/v1/webhooks/sendgrid", ["WebhooksPerAddress"]),
        ("/v1/collect", ["TrackingPerAddress"]),
        ("/v1/t.js", ["TrackingPerAddress"]),
        ("/v1/events", []),
        ("/v1/leads/jane@acme.com", []),
        ("/v1/models/default", []),
        ("/v1/health", []),
    ],
)
def test_the_rate_rules_count_the_public_paths_as_waf_sees_them(
    path: str, rules: list[str]
) -> None:
    # On the execute-api URL the stage comes first; behind a custom domain it may not.
    assert limited_by(f"/{STAGE}{path}") == rules
    assert limited_by(path) == rules


@pytest.mark.parametrize(
    "spelling",
    [f"/{STAGE}//v1/forms", f"/{STAGE}/v1/./forms", f"/{STAGE}/v1/x/../forms",
     f"/{STAGE}/v1/f%6Frms", f"/{STAGE}/v1%2Fforms"],
)  # fmt: skip
def test_no_spelling_of_the_forms_path_escapes_its_limit(spelling: str) -> None:
    assert limited_by(spelling) == ["FormsPerAddress"]


def test_every_public_route_is_limited_per_address_and_no_keyed_route_is() -> None:
    for method, path, key_required in declared_routes():
        request = f"/{STAGE}" + re.sub(r"\{[^}]+\}", "x", path)
        if key_required or path == "/v1/health":
            assert limited_by(request) == [], (method, path)
        else:
            assert len(limited_by(request)) == 1, (method, path)


def test_a_client_over_its_limit_gets_a_429_problem_document() -> None:
    bodies = ACL["CustomResponseBodies"]
    for name in RATE_RULES:
        response = RATE_RULES[name]["Action"]["Block"]["CustomResponse"]
        assert response["ResponseCode"] == 429
        assert {"Name": "Retry-After", "Value": "60"} in response["ResponseHeaders"]
        body = bodies[response["CustomResponseBodyKey"]]
        assert body["ContentType"] == "APPLICATION_JSON"  # WAF offers no problem+json
        problem = json.loads(body["Content"])
        assert problem["type"] == "about:blank" and problem["status"] == 429
        assert problem["title"] and problem["detail"]


def test_the_managed_rules_spare_large_bodies_webhooks_and_keyed_routes() -> None:
    bad_inputs = RULES["KnownBadInputs"]["Statement"]["ManagedRuleGroupStatement"]
    assert bad_inputs["Name"] == "AWSManagedRulesKnownBadInputsRuleSet"
    assert "ScopeDownStatement" not in bad_inputs
    common = RULES["CommonExploits"]["Statement"]["ManagedRuleGroupStatement"]
    assert common["Name"] == "AWSManagedRulesCommonRuleSet"
    overrides = {o["Name"]: o["ActionToUse"] for o in common["RuleActionOverrides"]}
    assert overrides["SizeRestrictions_BODY"] == {"Count": {}}  # forms are never refused for size
    scope = common["ScopeDownStatement"]
    assert matches(scope, f"/{STAGE}/v1/forms") and matches(scope, f"/{STAGE}/v1/collect")
    assert not matches(scope, f"/{STAGE}/v1/webhooks/sendgrid")
    assert not matches(scope, f"/{STAGE}/v1/events")
    priorities = [rule["Priority"] for rule in ACL["Rules"]]
    assert len(set(priorities)) == len(priorities)
    assert max(r["Priority"] for r in RATE_RULES.values()) < RULES["CommonExploits"]["Priority"]


def test_the_alarm_watches_the_rate_rules_of_this_web_acl() -> None:
    alarm = RESOURCES["PublicRateLimitAlarm"]["Properties"]
    assert alarm["AlarmActions"] == [{"Ref": "OpsTopic"}]
    watched = set()
    for query in alarm["Metrics"]:
        if "MetricStat" in query:
            dimensions = {
                d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]
            }
            assert dimensions["WebACL"] == ACL["Name"]
            assert query["Id"] in alarm["Metrics"][0]["Expression"]
            watched.add(dimensions["Rule"])
    metric_names = {rule["VisibilityConfig"]["MetricName"] for rule in RATE_RULES.values()}
    assert watched == metric_names
