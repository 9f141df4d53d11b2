"""Internal notes: what staff tell each other about a ticket, kept in its conversation and
never emailed, never on the status page, never in the customer's export."""

from datetime import datetime

from sqlmodel import Session

from app.enums import MessageKind
from app.models.message import MessageRead, NewMessage, NoteIn
from app.services.intake.attachments import store_attachments
from app.services.tickets import audit, conversation, queue, rows, transcript
from app.services.tickets.attachments import files_given


def add_note(
    ticket_id: int,
    data: NoteIn,
    *,
    session: Session,
    author_id: int | None,
    actor: str,
    now: datetime,
    max_file_bytes: int,
) -> MessageRead:
    """Keep a note (and its files) in the ticket's conversation, by its author."""
    files = files_given(data.attachments, max_file_bytes=max_file_bytes)
    ticket = queue.get_ticket(ticket_id, session=session)
    rows.check_writable(ticket)
    note = NewMessage(
        direction="internal",
        channel=ticket.channel,
        text=data.text,
        received_at=now,
        from_name=actor,
        kind=MessageKind.NOTE,
        author_id=author_id,
    )
    message_id = conversation.add_message(ticket_id, note, session=session)
    store_attachments(message_id, files, session=session)
    audit.record(
        ticket_id,
        session=session,
        actor=actor,
        kind="note_added",
        at=now,
        data={"message_id": message_id, "files": len(files)},
    )
    return transcript.read_message(message_id, session=session)
