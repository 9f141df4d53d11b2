"""Attachments: the files of a conversation, downloaded (never rendered)."""

from fastapi import APIRouter, Response

from app.deps import SessionDep, Viewer
from app.models.common import ResourceId
from app.routers._responses import READ, problems, stored_file
from app.services.tickets import attachments as service

router = APIRouter(prefix="/attachments", tags=["attachments"])

FILE = stored_file("The file's bytes as received, as a download (never rendered inline).")
DAMAGED = problems(503)  # the stored bytes do not match their SHA-256: nothing is served


@router.get(
    "/{attachment_id}",
    response_class=Response,
    status_code=200,
    responses={**READ, **DAMAGED, **FILE},
)
def download(attachment_id: ResourceId, session: SessionDep, _: Viewer) -> Response:
    """A file's bytes, checked against its SHA-256, as a download with its stored type."""
    stored = service.open_attachment(attachment_id, session=session)
    return Response(
        stored.data,
        media_type=service.served_type(stored.content_type),
        headers=service.download_headers(stored),
    )
