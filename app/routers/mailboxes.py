"""IMAP mailboxes read for requests: HTTP only (admin)."""

from fastapi import APIRouter

from app.deps import Admin, SessionDep
from app.models.common import Items, ResourceId
from app.models.mailbox import MailboxCreate, MailboxRead, MailboxUpdate
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.mailboxes import records as service

router = APIRouter(prefix="/mailboxes", tags=["mailboxes"])


@router.post("", response_model=MailboxRead, status_code=201, responses=CREATE)
def create(data: MailboxCreate, session: SessionDep, _: Admin, created: CreatedDep) -> MailboxRead:
    """Record a mailbox to read; its password is stored and never shown again."""
    mailbox = service.create_mailbox(data, session=session)
    created.at(mailbox.id)
    return service.read_mailbox(mailbox)


@router.get("", response_model=Items[MailboxRead], status_code=200, responses=READ)
def list_(session: SessionDep, _: Admin) -> Items[MailboxRead]:
    """Every mailbox by name, with its health."""
    return Items(items=[service.read_mailbox(m) for m in service.list_mailboxes(session=session)])


@router.get("/{mailbox_id}", response_model=MailboxRead, status_code=200, responses=READ)
def get(mailbox_id: ResourceId, session: SessionDep, _: Admin) -> MailboxRead:
    """One mailbox and how reading it goes."""
    return service.read_mailbox(service.get_mailbox(mailbox_id, session=session))


@router.patch("/{mailbox_id}", response_model=MailboxRead, status_code=200, responses=WRITE)
def update(
    mailbox_id: ResourceId, data: MailboxUpdate, session: SessionDep, _: Admin
) -> MailboxRead:
    """Change a mailbox (a new password, another folder, disable it); a failing mailbox is
    tried again at once."""
    return service.read_mailbox(service.update_mailbox(mailbox_id, data, session=session))
