"""An outbox row's facts become the email or alert it sends: templates, Babel, Rome time.

Pure and deterministic: the same facts and Message-ID give the same payload (no clock, no
database, no settings; every instant comes from the facts). The outbox worker calls it once per
row, when it first takes it, and keeps what it wrote (services.notifications.outbox.write).
"""

from email.utils import format_datetime as rfc2822
from typing import Any

from app.models.base import iso
from app.models.outbox import LetterFacts, OutboxFacts
from app.services.notifications import letters


def payload_of(facts: OutboxFacts, *, channel: str, message_id: str) -> dict[str, Any]:
    """What a transport sends for these facts: the email, or the alert webhook's JSON."""
    letter = letters.compose(
        facts.template, language=facts.language, **said(facts.letter, facts.language)
    )
    if channel == "webhook":
        return {
            "message_id": message_id,
            "json": {
                "kind": facts.template,
                "title": letter.subject,
                "message": letter.text,
                "ticket_number": facts.letter.words.get("number"),
                "at": iso(facts.caused_at),
            },
        }
    email: dict[str, Any] = {
        "from": facts.sender,
        "from_name": facts.sender_name,
        "to": facts.to,
        "subject": letter.subject,
        "text": letter.text,
        "html": letter.html,
        "date": rfc2822(facts.caused_at),
        "message_id": message_id,
        "headers": facts.headers,
    }
    if facts.cc:
        email["cc"] = facts.cc
    if facts.attachments:
        email["attachments"] = facts.attachments  # their bytes are read when it is sent
    return email


def said(facts: LetterFacts, language: str) -> dict[str, Any]:
    """The facts as the template reads them: instants and hours in words, in `language`."""
    words: dict[str, Any] = dict(facts.words)
    # Days (`*_on`, ISO dates) in words too: `30 novembre 2026`.
    words.update(
        (name, letters.day(value, language))
        for name, value in facts.words.items()
        if name.endswith("_on") and isinstance(value, str)
    )
    words.update((name, letters.when(at, language)) for name, at in facts.instants.items())
    words.update(
        (name, [said(row, language) for row in rows]) for name, rows in facts.lists.items()
    )
    if facts.weekly is not None:
        words["hours"] = letters.opening_hours(facts.weekly, language)
    return words
