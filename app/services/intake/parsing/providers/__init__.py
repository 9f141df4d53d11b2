"""One module per mail provider: its documented payload in, an InboundEmail out.

Each adapter returns an InboundEmail or raises MalformedEmail for a payload it cannot read;
any other exception is a bug, and surfaces as one (a logged 500: the provider retries).
Provider formats: see tests/fixtures/inbound/README.md for the pages.
"""

from app.services.intake.parsing.providers._shared import clean_content_type
from app.services.intake.parsing.providers.mailgun import from_mailgun
from app.services.intake.parsing.providers.mime import from_mime
from app.services.intake.parsing.providers.postmark import from_postmark
from app.services.intake.parsing.providers.sendgrid import from_sendgrid

__all__ = ["clean_content_type", "from_mailgun", "from_mime", "from_postmark", "from_sendgrid"]
