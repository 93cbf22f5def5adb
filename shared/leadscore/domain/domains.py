"""Built-in email-domain lists (personal, education, disposable) and domain helpers."""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PERSONAL = _words(
    """
    gmail.com googlemail.com yahoo.com yahoo.co.uk yahoo.fr yahoo.de yahoo.co.in ymail.com
    hotmail.com hotmail.co.uk hotmail.fr hotmail.de outlook.com outlook.fr live.com live.fr
    msn.com aol.com icloud.com me.com mac.com proton.me protonmail.com pm.me gmx.com gmx.de
    gmx.net web.de mail.com mail.ru yandex.ru yandex.com qq.com 163.com 126.com sina.com
    rediffmail.com zoho.com tutanota.com hey.com fastmail.com orange.fr free.fr laposte.net
    sfr.fr wanadoo.fr libero.it virgilio.it t-online.de comcast.net verizon.net att.net
    btinternet.com sky.com naver.com daum.net
    """
)

DISPOSABLE = _words(
    """
    mailinator.com guerrillamail.com guerrillamail.net sharklasers.com 10minutemail.com
    10minutemail.net tempmail.com temp-mail.org tempmail.net throwawaymail.com yopmail.com
    yopmail.fr trashmail.com trashmail.de getnada.com nada.email dispostable.com maildrop.cc
    mailnesia.com mintemail.com mohmal.com emailondeck.com fakeinbox.com spamgourmet.com
    mytemp.email tempr.email discard.email burnermail.io inboxkitten.com moakt.com
    """
)

EDUCATION = frozenset({"edu", "ac.uk", "edu.au", "edu.cn", "ac.jp", "ac.in", "edu.in", "ac.nz"})
EDUCATION_LABELS = frozenset({"edu", "ac"})


def email_domain(email: str) -> str:
    """The lower-cased domain of an address ('' when there is none)."""
    _, at, domain = email.strip().rpartition("@")
    return domain.lower().rstrip(".") if at else ""


def in_domains(domain: str, domains: frozenset[str]) -> bool:
    """True when `domain` or one of its parent domains is listed (mail.rival.com ~ rival.com)."""
    labels = domain.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels) - 1))


def is_education(domain: str, extra: frozenset[str] = frozenset()) -> bool:
    """Universities and schools: *.edu, *.ac.uk, *.edu.au, ... and listed domains."""
    labels = domain.split(".")
    if len(labels) >= 2 and labels[-1] == "edu":
        return True
    if len(labels) >= 3 and labels[-2] in EDUCATION_LABELS:
        return True
    return in_domains(domain, extra)


def company_domain(email: str) -> str | None:
    """The account a lead belongs to: its email domain, unless personal, education or disposable."""
    domain = email_domain(email)
    if not domain or "." not in domain:
        return None
    if in_domains(domain, PERSONAL) or in_domains(domain, DISPOSABLE) or is_education(domain):
        return None
    return domain
