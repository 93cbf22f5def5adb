"""Amazon SES over SNS: the API fetches the signing certificate and the subscription URL an SNS
message names, so only Amazon SNS's own hosts, written as SNS writes them, are ever fetched."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from leadscore.adapters.webhooks import WebhookAuthError, WebhookRequest, handle

from tests.unit.test_webhooks import SnsSigner

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:111122223333:ses-events"
PEM = "/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
CERTIFICATE = f"https://sns.eu-west-1.amazonaws.com{PEM}"
CONFIRM = "/?Action=ConfirmSubscription&TopicArn=" + TOPIC + "&Token=2336412f37fb687f5d51e6e2"

REAL_HOSTS = [
    "sns.us-east-1.amazonaws.com",
    "sns.us-west-2.amazonaws.com",
    "sns.eu-central-2.amazonaws.com",
    "sns.eu-north-1.amazonaws.com",
    "sns.ap-southeast-4.amazonaws.com",
    "sns.ap-northeast-3.amazonaws.com",
    "sns.af-south-1.amazonaws.com",
    "sns.il-central-1.amazonaws.com",
    "sns.mx-central-1.amazonaws.com",
    "sns.ca-west-1.amazonaws.com",
    "sns.sa-east-1.amazonaws.com",
    "sns.us-gov-west-1.amazonaws.com",
    "sns.us-gov-east-1.amazonaws.com",
    "sns.cn-north-1.amazonaws.com.cn",
    "sns.cn-northwest-1.amazonaws.com.cn",
]

# Hosts that are not SNS: each would be fetched from if it passed.
HOSTILE_HOSTS = [
    "sns.s3-us-west-2.amazonaws.com",  # the S3 bucket "sns" in us-west-2
    "sns.s3.amazonaws.com",  # the same bucket, on S3's global endpoint
    "sns.s3-website-us-east-1.amazonaws.com",
    "sns.s3-external-1.amazonaws.com",
    "sns.xn--us-east-1-abc.amazonaws.com",  # an IDN label, not a region
    "sns.localhost.amazonaws.com",
    "sns.---.amazonaws.com",
    "sns.cn-north-1.amazonaws.com",  # China's regions live under .amazonaws.com.cn only
    "sns.us-east-1.amazonaws.com.cn",
    "sns.us-east-1.amazonaws.com.evil.com",
    "sns.us-east-1.amazonaws.com@evil.com",
    "evil.com\\@sns.us-east-1.amazonaws.com",
    "evil.com#@sns.us-east-1.amazonaws.com",
    "sns..amazonaws.com",
    "sns.us-east-1.amazonaws.com.",  # trailing dot
    "sns.us-east-1.amazonaws.com:443",  # SNS names no port
    "sns.us-east-1.amazonaws.com:8443",
    "SNS.US-EAST-1.AMAZONAWS.COM",
    "sns.US-east-1.amazonaws.com",
    "sns.us-east-1\u3002amazonaws.com",  # an ideographic full stop
    "sns.us-east-1\uff0eamazonaws.com",  # a fullwidth full stop
    "\uff53ns.us-east-1.amazonaws.com",  # a fullwidth s
    "sns.us-east-\u0661.amazonaws.com",  # an Arabic-Indic digit one
    "sns.us-east-1.amazon\taws.com",  # urlsplit drops tabs; the fetcher would not
    "sns.us-east-1.amazonaws.com%2eevil.com",
]


class Sns(SnsSigner):
    """A key and self-signed certificate standing in for Amazon SNS's; records what is
    fetched, and posts envelopes signed with the certificate URL under test."""

    def post(self, envelope: dict[str, Any], certificate: str = CERTIFICATE) -> Any:
        """Sign the envelope as SNS does and hand it to the webhook adapter."""
        envelope = {
            "MessageId": "m-1",
            "TopicArn": TOPIC,
            "Timestamp": "2026-01-01T11:59:00.000Z",
            **envelope,
            "SignatureVersion": "2",
            "SigningCertURL": certificate,
        }
        names = ("Message", "MessageId", "Subject", "SubscribeURL", "Timestamp", "Token")
        signed = "".join(
            f"{n}\n{envelope[n]}\n" for n in (*names, "TopicArn", "Type") if n in envelope
        )
        signature = self.key.sign(signed.encode(), padding.PKCS1v15(), hashes.SHA256())
        envelope["Signature"] = base64.b64encode(signature).decode()
        body = json.dumps(envelope).encode()
        request = WebhookRequest(
            "ses", "POST", {}, body, {}, "https://api.acme.test/v1/webhooks/ses"
        )
        return handle(request, {"ses": TOPIC}, NOW, fetch_certificate=self.fetch)


def notification(sns: Sns, certificate: str) -> Any:
    return sns.post({"Type": "Notification", "Message": "not an SES event"}, certificate)


def confirmation(sns: Sns, subscribe_url: str) -> Any:
    envelope = {
        "Type": "SubscriptionConfirmation",
        "Message": "You have chosen to subscribe to the topic...",
        "Token": "2336412f37fb687f5d51e6e2",
        "SubscribeURL": subscribe_url,
    }
    return sns.post(envelope)


@pytest.mark.parametrize("host", REAL_HOSTS)
def test_every_real_sns_host_serves_the_certificate(host: str) -> None:
    sns = Sns()
    notification(sns, f"https://{host}{PEM}")
    assert sns.fetched == [f"https://{host}{PEM}"]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_certificate_anywhere_else_is_never_fetched(host: str) -> None:
    sns = Sns()
    with pytest.raises(WebhookAuthError, match="not an Amazon SNS URL"):
        notification(sns, f"https://{host}{PEM}")
    assert sns.fetched == []


@pytest.mark.parametrize(
    "certificate",
    [
        f"http://sns.us-east-1.amazonaws.com{PEM}",
        f"HTTPS://sns.us-east-1.amazonaws.com{PEM}",
        f"https:/sns.us-east-1.amazonaws.com{PEM}",
        f" https://sns.us-east-1.amazonaws.com{PEM}",
        f"https://sns.us-east-1.amazonaws.com{PEM}\n",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c64.txt",
        "https://sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com/a/../SimpleNotificationService-9c64.pem",
        "https://sns.us-east-1.amazonaws.com//SimpleNotificationService-9c64.pem",
        f"https://sns.us-east-1.amazonaws.com{PEM}?Action=Publish",
        f"https://sns.us-east-1.amazonaws.com{PEM}#x",
        f"https://sns.us-east-1.amazonaws.com/?x={PEM}",
    ],
)
def test_a_certificate_url_not_shaped_as_sns_writes_it_is_never_fetched(certificate: str) -> None:
    sns = Sns()
    with pytest.raises(WebhookAuthError, match="not an Amazon SNS URL"):
        notification(sns, certificate)
    assert sns.fetched == []


@pytest.mark.parametrize(
    "subscribe_url",
    [
        f"https://sns.eu-west-1.amazonaws.com{CONFIRM}",
        "https://sns.us-gov-west-1.amazonaws.com/?Action=ConfirmSubscription"
        "&TopicArn=arn:aws-us-gov:sns:us-gov-west-1:111122223333:ses-events.fifo&Token=ab12",
        "https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription"
        "&TopicArn=arn%3Aaws-cn%3Asns%3Acn-north-1%3A111122223333%3Ases_events&Token=ab12",
    ],
)
def test_a_real_subscribe_url_is_handed_back_to_confirm(subscribe_url: str) -> None:
    assert confirmation(Sns(), subscribe_url).confirm_url == subscribe_url


@pytest.mark.parametrize(
    "subscribe_url",
    [
        *(f"https://{host}{CONFIRM}" for host in HOSTILE_HOSTS),
        f"http://sns.eu-west-1.amazonaws.com{CONFIRM}",
        "https://sns.eu-west-1.amazonaws.com/?Action=Publish&TopicArn=" + TOPIC,
        "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=" + TOPIC,
        f"https://sns.eu-west-1.amazonaws.com/other{CONFIRM}",
        f"https://sns.eu-west-1.amazonaws.com{CONFIRM}#fragment",
        f"https://sns.eu-west-1.amazonaws.com{CONFIRM}&Next=https://evil.com/",
        "https://evil.example/?Action=ConfirmSubscription",
    ],
)
def test_the_api_is_never_sent_to_any_other_url_to_confirm(subscribe_url: str) -> None:
    # The API GETs the SubscribeURL itself: anything but SNS would make it a proxy (SSRF).
    with pytest.raises(WebhookAuthError, match="not an Amazon SNS URL"):
        confirmation(Sns(), subscribe_url)
