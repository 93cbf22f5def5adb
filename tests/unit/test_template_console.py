"""Where the console runs when deployed: a private bucket behind CloudFront (origin access
control), the API under /v1/ on the same distribution, the assets put by a custom resource."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from leadscore_tools.intrinsics import Naming, Resolver
from leadscore_tools.template import load_template, read_stack

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
DISTRIBUTION = RESOURCES["ConsoleDistribution"]["Properties"]["DistributionConfig"]
NAMING = Naming("http://127.0.0.1:5000")
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
CONSOLE_RESOURCES = {
    "ConsoleBucket", "ConsoleBucketPolicy", "ConsoleOriginAccessControl", "ConsoleIndexFunction",
    "ConsoleApiFunction", "ConsoleDistribution", "ConsoleAssets", "ConsoleAssetsFunction",
    "ConsoleAssetsFunctionLogGroup", "ConsoleAssetsFunctionErrorsAlarm",
    "ConsoleAssetsFunctionThrottlesAlarm", "ConsoleHeaders",
}  # fmt: skip


def origin(origin_id: str) -> dict[str, Any]:
    [found] = [o for o in DISTRIBUTION["Origins"] if o["Id"] == origin_id]
    return found


def api_behaviour() -> dict[str, Any]:
    [behaviour] = [b for b in DISTRIBUTION["CacheBehaviors"] if b["PathPattern"] == "/v1/*"]
    return behaviour


def test_the_console_is_on_by_default_and_every_part_of_it_goes_with_its_parameter() -> None:
    parameter = TEMPLATE["Parameters"]["EnableConsole"]
    assert parameter["Default"] == "true" and set(parameter["AllowedValues"]) == {"true", "false"}
    assert Resolver(TEMPLATE, {}, NAMING).condition("HasConsole") is True
    assert Resolver(TEMPLATE, {"EnableConsole": "false"}, NAMING).condition("HasConsole") is False
    conditioned = {n for n, r in RESOURCES.items() if r.get("Condition") == "HasConsole"}
    assert conditioned == CONSOLE_RESOURCES
    assert TEMPLATE["Outputs"]["ConsoleUrl"]["Condition"] == "HasConsole"
    skipped = read_stack(NAMING, {"EnableConsole": "false"}).skipped
    assert set(skipped) >= CONSOLE_RESOURCES


def test_the_local_stack_reads_the_template_and_routes_nothing_to_the_assets_function() -> None:
    stack = read_stack(NAMING)
    assert stack.routes and all(r.function != "ConsoleAssetsFunction" for r in stack.routes)


def test_the_bucket_is_private_and_encrypted() -> None:
    bucket = RESOURCES["ConsoleBucket"]["Properties"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    [rule] = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert "WebsiteConfiguration" not in bucket  # read through CloudFront only


def test_only_this_distribution_may_read_the_bucket_and_only_over_tls() -> None:
    policy = RESOURCES["ConsoleBucketPolicy"]["Properties"]
    assert policy["Bucket"] == {"Ref": "ConsoleBucket"}
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Sid": "CloudFrontReadsTheConsole",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": {"Fn::Sub": "${ConsoleBucket.Arn}/console/*"},
            "Condition": {
                "StringEquals": {
                    "AWS:SourceArn": {
                        "Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:"
                        "distribution/${ConsoleDistribution}"
                    }
                }
            },
        }
    ]
    [deny] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_cloudfront_signs_its_requests_to_the_bucket_with_origin_access_control() -> None:
    bucket = origin("console")
    assert bucket["DomainName"] == {"Fn::GetAtt": ["ConsoleBucket", "RegionalDomainName"]}
    assert bucket["OriginAccessControlId"] == {"Fn::GetAtt": ["ConsoleOriginAccessControl", "Id"]}
    assert bucket["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    control = RESOURCES["ConsoleOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]
    assert control["OriginAccessControlOriginType"] == "s3"
    assert control["SigningBehavior"] == "always" and control["SigningProtocol"] == "sigv4"


def test_the_default_behaviour_is_the_console_over_https_with_security_headers() -> None:
    default = DISTRIBUTION["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "console"
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["CachePolicyId"] == CACHING_OPTIMIZED
    assert default["ResponseHeadersPolicyId"] == {"Ref": "ConsoleHeaders"}
    assert default["AllowedMethods"] == ["GET", "HEAD"]
    [association] = default["FunctionAssociations"]
    assert association == {
        "EventType": "viewer-request",
        "FunctionARN": {"Fn::GetAtt": ["ConsoleIndexFunction", "FunctionARN"]},
    }


def test_v1_goes_to_the_api_stage_uncached_with_every_method_and_header_but_host() -> None:
    behaviour = api_behaviour()
    assert behaviour["TargetOriginId"] == "api"
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert set(behaviour["AllowedMethods"]) == {
        "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE",
    }  # fmt: skip
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    [association] = behaviour["FunctionAssociations"]
    assert association["FunctionARN"] == {"Fn::GetAtt": ["ConsoleApiFunction", "FunctionARN"]}
    api = origin("api")
    assert api["DomainName"] == {"Fn::Sub": "${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert api["OriginPath"] == {"Fn::Sub": "/${Api.Stage}"}
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert api["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]
    stage = RESOURCES["Api"]["Properties"]["StageName"]
    assert TEMPLATE["Outputs"]["ApiUrl"]["Value"]["Fn::Sub"].endswith(f"/{stage}")


def test_no_custom_error_page_rewrites_the_apis_answers() -> None:
    assert "CustomErrorResponses" not in DISTRIBUTION
    assert "DefaultRootObject" not in DISTRIBUTION  # it would serve / from the bucket's root


def test_the_console_url_is_an_output() -> None:
    output = TEMPLATE["Outputs"]["ConsoleUrl"]
    assert output["Value"] == {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/console/"}


def test_the_assets_resource_runs_again_when_the_build_or_the_sign_in_changes() -> None:
    assets = RESOURCES["ConsoleAssets"]["Properties"]
    assert assets["ServiceToken"] == {"Fn::GetAtt": ["ConsoleAssetsFunction", "Arn"]}
    assert assets["AssetsVersion"] == {"Ref": "ConsoleAssetsFunction.Version"}
    assert RESOURCES["ConsoleAssetsFunction"]["Properties"]["AutoPublishAlias"]
    assert assets["Bucket"] == {"Ref": "ConsoleBucket"}
    assert assets["UserPoolId"] == {"Ref": "UserPool"}
    assert assets["UserPoolClientId"] == {"Ref": "UserPoolClient"}
    assert assets["Region"] == {"Ref": "AWS::Region"}
    assert assets["CognitoEndpoint"] == {
        "Fn::Sub": "https://cognito-idp.${AWS::Region}.${AWS::URLSuffix}/"
    }
    assert 0 < assets["ServiceTimeout"] <= 3600


def test_the_assets_function_may_only_list_put_and_delete_the_consoles_objects() -> None:
    function = RESOURCES["ConsoleAssetsFunction"]["Properties"]
    assert function["CodeUri"] == "functions/console_assets/"
    [policy] = function["Policies"]
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": {"Fn::GetAtt": ["ConsoleBucket", "Arn"]},
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:DeleteObject"],
            "Resource": {"Fn::Sub": "${ConsoleBucket.Arn}/console/*"},
        },
    ]


# The CloudFront functions, run in Node with the event CloudFront hands them.
HARNESS = """
const handler = new Function(process.argv[1] + '\\nreturn handler;')();
const uris = JSON.parse(process.argv[2]);
console.log(JSON.stringify(uris.map((uri) => handler({request: {uri, headers: {}}}))));
"""


def run_edge_function(name: str, uris: list[str]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (make run and make test install it with the tracker)")
    code = RESOURCES[name]["Properties"]["FunctionCode"]
    assert RESOURCES[name]["Properties"]["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    answer = subprocess.run(
        [node, "-e", HARNESS, code, json.dumps(uris)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    result: list[dict[str, Any]] = json.loads(answer.stdout)
    return result


def test_console_paths_serve_index_html_and_the_rest_redirects_to_the_console() -> None:
    paths = ["/console/", "/console/app.js", "/console/config.json", "/", "/console", "/x"]
    answers = dict(zip(paths, run_edge_function("ConsoleIndexFunction", paths), strict=True))
    assert answers["/console/"]["uri"] == "/console/index.html"
    assert answers["/console/app.js"]["uri"] == "/console/app.js"
    assert answers["/console/config.json"]["uri"] == "/console/config.json"
    for path in ("/", "/console", "/x"):
        assert answers[path]["statusCode"] == 302, path
        assert answers[path]["headers"]["location"]["value"] == "/console/", path


@pytest.mark.parametrize(
    "path",
    [
        "/v1/forms", "/v1/forms/token", "/v1/collect", "/v1/t.js", "/v1/webhooks/sendgrid",
        "//v1/forms", "/v1//collect", "/v1/./t.js", "/v1/leads/../forms", "/v1/%66orms",
        "/v1/Webhooks/typeform", "/v1/%E0%A4%A", "/v1/forms/",
    ],
)  # fmt: skip
def test_the_public_routes_are_refused_on_the_consoles_origin_however_spelt(path: str) -> None:
    [answer] = run_edge_function("ConsoleApiFunction", [path])
    assert answer.get("statusCode") == 404, answer


@pytest.mark.parametrize(
    "path",
    [
        "/v1/leads", "/v1/leads/ada%40example.com", "/v1/models/demo/rescore/j1",
        "/v1/notifications", "/v1/accounts/example.com", "/v1/health", "/v1/events",
    ],
)  # fmt: skip
def test_the_consoles_routes_pass_through_unchanged(path: str) -> None:
    [answer] = run_edge_function("ConsoleApiFunction", [path])
    assert answer == {"uri": path, "headers": {}}


def test_the_console_is_served_with_a_content_security_policy() -> None:
    """Only the console's own scripts run (the ID token is in sessionStorage); it talks to
    its own origin and Cognito; no page may frame it."""
    headers = RESOURCES["ConsoleHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    security = headers["SecurityHeadersConfig"]
    policy = security["ContentSecurityPolicy"]["ContentSecurityPolicy"]["Fn::Sub"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self' https://cognito-idp.${AWS::Region}.amazonaws.com"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert security["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31_536_000
    assert security["FrameOptions"]["FrameOption"] == "DENY"
