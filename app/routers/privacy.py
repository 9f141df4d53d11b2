"""A person's or a customer's data: export and erasure (admin only). HTTP only."""

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import EmailStr

from app.deps import Admin, Now, SessionDep
from app.models.common import ResourceId
from app.models.privacy import ErasureIn, ErasureRead, PersonErasureIn
from app.routers._responses import READ, WRITE
from app.services.privacy import erasure, export

router = APIRouter(tags=["privacy"])

IncludeInternal = Annotated[
    bool,
    Query(description="Include internal notes and the history's details (the agency's own use)."),
]
DryRun = Annotated[
    bool, Query(description="Count what would be erased, per class of data; change nothing.")
]
ZIP: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A ZIP: `data.json` (docs/export.schema.json) and the conversation's files.",
        "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
    },
}


def _zip(file: Any, name: str) -> StreamingResponse:
    return StreamingResponse(
        export.chunks_of(file),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/customers/{customer_id}/export",
    response_class=StreamingResponse,
    status_code=200,
    responses={**READ, **ZIP},
)
def export_customer(
    customer_id: ResourceId,
    session: SessionDep,
    _: Admin,
    now: Now,
    include_internal: IncludeInternal = False,
) -> StreamingResponse:
    """A customer's data as a ZIP (art. 15 and 20 GDPR); internal notes only when asked."""
    scope = export.customer_scope(customer_id, session=session)
    file = export.export_zip(scope, session=session, now=now, include_internal=include_internal)
    return _zip(file, f"customer-{customer_id}.zip")


@router.get(
    "/people/export", response_class=StreamingResponse, status_code=200, responses={**READ, **ZIP}
)
def export_person(
    email: Annotated[EmailStr, Query(description="The person's address.")],
    session: SessionDep,
    _: Admin,
    now: Now,
    include_internal: IncludeInternal = False,
) -> StreamingResponse:
    """A person's data as a ZIP: their contact records, the requests they made and their
    messages on other tickets."""
    scope = export.person_scope(email)
    file = export.export_zip(scope, session=session, now=now, include_internal=include_internal)
    return _zip(file, "person.zip")


@router.post(
    "/customers/{customer_id}/erase", response_model=ErasureRead, status_code=200, responses=WRITE
)
def erase_customer(
    customer_id: ResourceId,
    data: ErasureIn,
    session: SessionDep,
    admin: Admin,
    now: Now,
    dry_run: DryRun = False,
) -> ErasureRead:
    """Erase a customer's personal data (art. 17 GDPR), the invoicing facts kept."""
    target = erasure.customer(customer_id, session=session)
    return erasure.erase(
        target, session=session, actor=admin.name, reason=data.reason, now=now, dry_run=dry_run
    )


@router.post("/people/erase", response_model=ErasureRead, status_code=200, responses=WRITE)
def erase_person(
    data: PersonErasureIn, session: SessionDep, admin: Admin, now: Now, dry_run: DryRun = False
) -> ErasureRead:
    """Erase a person's data (art. 17 GDPR): their messages, files, name and address."""
    return erasure.erase(
        erasure.person(data.email),
        session=session,
        actor=admin.name,
        reason=data.reason,
        now=now,
        dry_run=dry_run,
    )
