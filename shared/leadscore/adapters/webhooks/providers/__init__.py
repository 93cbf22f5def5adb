"""The platforms `POST /v1/webhooks/{provider}` accepts, by the name used in the URL."""

from __future__ import annotations

from . import (
    brevo,
    hubspot,
    mailchimp,
    mailersend,
    mailgun,
    mailjet,
    mailtrap,
    mandrill,
    postmark,
    resend,
    sendgrid,
    ses,
    sparkpost,
    typeform,
    unbounce,
    unisender_go,
    webflow,
)
from .base import Provider

PROVIDERS: dict[str, Provider] = {
    module.PROVIDER.name: module.PROVIDER
    for module in (
        sendgrid,
        mailgun,
        mailchimp,
        mandrill,
        postmark,
        sparkpost,
        brevo,
        mailjet,
        ses,
        resend,
        mailersend,
        mailtrap,
        unisender_go,
        typeform,
        webflow,
        unbounce,
        hubspot,
    )
}

__all__ = ["PROVIDERS", "Provider"]
