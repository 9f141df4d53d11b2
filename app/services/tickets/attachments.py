"""A conversation's files: listed by message, and served by id with their bytes checked."""

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from sqlmodel import Session, col, select

from app.errors import NotFound, ServiceUnavailable
from app.models.message import Attachment, AttachmentBlob, AttachmentRead, FileIn
from app.services.intake.attachments import check_sizes
from app.services.intake.parsing import InboundAttachment
from app.services.intake.parsing.content import sanitize_filename

log = logging.getLogger(__name__)


def attachments_of(
    message_ids: Iterable[int], *, session: Session
) -> dict[int, list[AttachmentRead]]:
    """Each message's files, in the order they were stored (one query for them all)."""
    ids = list(message_ids)
    found: dict[int, list[AttachmentRead]] = {}
    if not ids:
        return found
    rows = session.exec(
        select(Attachment).where(col(Attachment.message_id).in_(ids)).order_by(col(Attachment.id))
    )
    for row in rows:
        found.setdefault(row.message_id, []).append(
            AttachmentRead.model_validate(row, from_attributes=True)
        )
    return found


@dataclass(frozen=True)
class StoredFile:
    """An attachment's bytes, as they were received, with the name and type declared."""

    filename: str
    content_type: str
    data: bytes


def open_attachment(attachment_id: int, *, session: Session) -> StoredFile:
    """The file's bytes, checked against the SHA-256 stored when it arrived."""
    row = session.exec(
        select(Attachment, AttachmentBlob.data)
        .join(AttachmentBlob, col(AttachmentBlob.id) == col(Attachment.blob_id))
        .where(Attachment.id == attachment_id)
    ).first()
    if row is None:
        raise NotFound(f"No attachment with id {attachment_id}.")
    attachment, data = row
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        # Never serve bytes other than those received: a damaged copy is an outage to fix.
        log.error("attachment %s: stored bytes do not match their SHA-256", attachment_id)
        raise ServiceUnavailable(
            f"The stored bytes of attachment {attachment_id} do not match their SHA-256."
        )
    return StoredFile(attachment.filename, attachment.content_type, data)


# Every JavaScript MIME type (WHATWG MIME Sniffing): a browser runs a file of one of these as
# a script despite nosniff, and the console allows scripts from our own origin.
_SCRIPT_TYPES = frozenset(
    {
        "application/ecmascript",
        "application/javascript",
        "application/x-ecmascript",
        "application/x-javascript",
        "text/ecmascript",
        "text/javascript",
        *(f"text/javascript1.{minor}" for minor in range(6)),
        "text/jscript",
        "text/livescript",
        "text/x-ecmascript",
        "text/x-javascript",
    }
)
# Types a browser could render as a document that runs script, or run as one: plain bytes.
_ACTIVE_TYPES = _SCRIPT_TYPES | {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/xml",
    "application/xml",
    "application/x-shockwave-flash",
}
_MIME_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
DOWNLOAD_POLICY = "default-src 'none'; sandbox"
_UNSAFE_IN_QUOTES = re.compile(r'[\x00-\x1f\x7f-\x9f"\\\u2028\u2029]')


def served_type(content_type: str) -> str:
    """The type a download is served with: the stored one, unless it is malformed or a kind a
    browser would run (HTML, SVG, XML, script), which goes out as application/octet-stream."""
    essence = content_type.split(";", 1)[0].strip().lower()
    if not _MIME_TYPE.match(essence) or essence in _ACTIVE_TYPES:
        return "application/octet-stream"
    return essence


def content_disposition(filename: str) -> str:
    """`attachment` with the file's name (RFC 6266): an ASCII fallback in quotes and the exact
    name percent-encoded in `filename*`; control characters, quotes and backslashes dropped."""
    clean = _UNSAFE_IN_QUOTES.sub("", filename).strip() or "attachment"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F else "_" for c in clean)
    encoded = quote(clean, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def download_headers(stored: StoredFile) -> dict[str, str]:
    """What a download answers with: never rendered inline, never sniffed, never scripted."""
    return {
        "Content-Disposition": content_disposition(stored.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DOWNLOAD_POLICY,
        "Cache-Control": "private, no-store",
    }


def files_given(files: list[FileIn], *, max_file_bytes: int) -> tuple[InboundAttachment, ...]:
    """Files staff attach to a reply or a note: names sanitised as an email's, each within the
    per-file limit of intake (413 before anything is stored)."""
    given = tuple(
        InboundAttachment(
            filename=sanitize_filename(file.filename, file.content_type),
            content_type=file.content_type.lower(),
            data=file.content_base64,
        )
        for file in files
    )
    check_sizes(given, max_file_bytes=max_file_bytes)
    return given
