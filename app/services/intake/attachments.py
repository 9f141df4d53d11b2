"""A message's files: checked against the per-file limit, each content stored once."""

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.errors import PayloadTooLarge
from app.models.base import table_of, utcnow
from app.models.message import Attachment, AttachmentBlob
from app.services.intake.parsing import InboundAttachment


def check_sizes(attachments: tuple[InboundAttachment, ...], *, max_file_bytes: int) -> None:
    """413 before anything is stored when one file is over the limit."""
    for attachment in attachments:
        if attachment.size > max_file_bytes:
            raise PayloadTooLarge(
                f"The attachment {attachment.filename!r} is {attachment.size} bytes; the limit "
                f"is {max_file_bytes} bytes per file. Nothing was stored.",
                limit_bytes=max_file_bytes,
            )


_BLOBS = table_of(AttachmentBlob)
_BLOB_BY_HASH = select(_BLOBS.c.id).where(_BLOBS.c.sha256 == bindparam("sha256"))
_INSERT_BLOBS = {
    "sqlite": sqlite_insert(_BLOBS).on_conflict_do_nothing().returning(_BLOBS.c.id),
    "postgresql": postgresql_insert(_BLOBS).on_conflict_do_nothing().returning(_BLOBS.c.id),
}
_INSERT_ATTACHMENT = insert(table_of(Attachment))


def store_attachments(
    message_id: int, attachments: tuple[InboundAttachment, ...], *, session: Session
) -> None:
    """The message's files, their content stored once per SHA-256 however many carry it."""
    connection = session.connection()
    for attachment in attachments:
        blob_id = _blob_id(attachment, session=session)
        connection.execute(
            _INSERT_ATTACHMENT,
            {
                "message_id": message_id,
                "blob_id": blob_id,
                "filename": attachment.filename[:255],
                "content_type": attachment.content_type[:255],
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
        )


def _blob_id(attachment: InboundAttachment, *, session: Session) -> int:
    """The stored content's id, written now if no message carried it before.

    A concurrent delivery storing the same content at once waits for the other's commit, then
    inserts nothing (ON CONFLICT DO NOTHING) and reads the content the other stored.
    """
    connection = session.connection()
    blob_id: int | None = connection.execute(_BLOB_BY_HASH, {"sha256": attachment.sha256}).scalar()
    if blob_id is None:
        row = {
            "sha256": attachment.sha256,
            "size": attachment.size,
            "data": attachment.data,
            "created_at": utcnow(),
        }
        inserted = connection.execute(_INSERT_BLOBS[connection.dialect.name], row).scalar()
        blob_id = (
            inserted
            or connection.execute(_BLOB_BY_HASH, {"sha256": attachment.sha256}).scalar_one()
        )
    return blob_id
