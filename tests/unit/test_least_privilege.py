"""The public routes run in a role that can enqueue, read the webhook secrets and record seen
webhook tokens, and nothing else; the keyed function no longer reads the webhook secrets."""

from __future__ import annotations

from typing import Any

from leadscore_tools.template import load_template

RESOURCES: dict[str, Any] = load_template()["Resources"]


def test_the_public_function_can_only_enqueue_read_webhook_secrets_and_put_replays() -> None:
    policies = RESOURCES["PublicApiFunction"]["Properties"]["Policies"]
    templates = [p for p in policies if "Statement" not in p]
    assert templates == [
        {"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ScoringQueue", "QueueName"]}}},
        {"SSMParameterWithSlashPrefixReadPolicy": {"ParameterName": {"Ref": "WebhookSecretsPath"}}},
        {
            "SSMParameterWithSlashPrefixReadPolicy": {
                "ParameterName": {"Fn::Sub": "${WebhookSecretsPath}/*"}
            }
        },
    ]
    [statement] = [s for p in policies if "Statement" in p for s in p["Statement"]]
    assert statement["Action"] == "dynamodb:PutItem"
    assert statement["Resource"] == {"Fn::GetAtt": ["LeadsTable", "Arn"]}
    assert statement["Condition"] == {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["REPLAY#*"]}
    }


def test_the_keyed_function_reads_no_webhook_secret() -> None:
    properties = RESOURCES["ApiFunction"]["Properties"]
    assert not any("SSMParameterWithSlashPrefixReadPolicy" in p for p in properties["Policies"])
    assert "LEADSCORE_WEBHOOK_SSM_PATH" not in properties["Environment"]["Variables"]


def test_api_gateway_traces_no_url() -> None:
    """Its X-Ray segment would keep the paths of /v1/leads/{email}; the access log keeps the
    route template, never the path."""
    api = RESOURCES["Api"]["Properties"]
    assert api["TracingEnabled"] is False
    log_format = api["AccessLogSetting"]["Format"]
    assert "$context.resourcePath" in log_format and "$context.path" not in log_format
    assert "identity.sourceIp" not in log_format
