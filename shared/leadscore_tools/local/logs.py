"""The local stack's log (`local_stack`), whose lines never carry an email address.

Request paths hold emails (`/v1/leads/jane%40acme.com`), and `--verbose` prints every
request: the console, and any file it is piped to, gets `<email>` instead.
"""

from __future__ import annotations

import logging
import re

# An address as it appears in a path, a query or a message: `@` or its percent-encoding.
_PART = r"[^\s/?&=#;,:\"'<>()\[\]{}@]+"
EMAIL = re.compile(rf"{_PART}(?:@|%40){_PART}", re.IGNORECASE)


def mask_emails(line: str) -> str:
    return EMAIL.sub("<email>", line)


class MaskEmails(logging.Filter):
    """Masks the formatted message and any traceback of each record, before any handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_emails(record.getMessage()), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_emails(record.exc_text)
        return True


log = logging.getLogger("local_stack")
log.addFilter(MaskEmails())
