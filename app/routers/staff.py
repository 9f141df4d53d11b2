"""Staff members, their tokens, and who the caller is: HTTP only."""

from fastapi import APIRouter

from app.deps import Admin, CurrentPrincipal, Now, SessionDep, Viewer
from app.models.api_token import TokenCreate, TokenIssued, TokenRead
from app.models.common import Items, ResourceId
from app.models.staff import Me, StaffCreate, StaffRead, StaffUpdate
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.directory import auth, staff

router = APIRouter(tags=["staff"])


@router.get("/me", response_model=Me, status_code=200, responses=READ)
def me(session: SessionDep, principal: CurrentPrincipal, _: Viewer) -> Me:
    """Who the caller is: the staff member behind the token and the role they have now."""
    return auth.whoami(principal, session=session)


@router.post("/staff", response_model=StaffRead, status_code=201, responses=CREATE)
def create(data: StaffCreate, session: SessionDep, _: Admin, created: CreatedDep) -> StaffRead:
    """Add a staff member (admin, agent or viewer); then issue them a token (POST /tokens)."""
    member = staff.create_staff(data, session=session)
    created.at(member.id)
    return StaffRead.model_validate(member, from_attributes=True)


@router.get("/staff", response_model=Items[StaffRead], status_code=200, responses=READ)
def list_(session: SessionDep, _: Viewer) -> Items[StaffRead]:
    """Every staff member, by name (whom a ticket can be assigned to)."""
    members = staff.list_staff(session=session)
    return Items(items=[StaffRead.model_validate(m, from_attributes=True) for m in members])


@router.get("/staff/{staff_id}", response_model=StaffRead, status_code=200, responses=READ)
def get(staff_id: ResourceId, session: SessionDep, _: Viewer) -> StaffRead:
    """One staff member."""
    member = staff.get_staff(staff_id, session=session)
    return StaffRead.model_validate(member, from_attributes=True)


@router.patch("/staff/{staff_id}", response_model=StaffRead, status_code=200, responses=WRITE)
def update(staff_id: ResourceId, data: StaffUpdate, session: SessionDep, _: Admin) -> StaffRead:
    """Rename, re-address, change the role of, or (de)activate a staff member."""
    member = staff.update_staff(staff_id, data, session=session)
    return StaffRead.model_validate(member, from_attributes=True)


@router.post("/tokens", response_model=TokenIssued, status_code=201, responses=CREATE)
def create_token(
    data: TokenCreate, session: SessionDep, now: Now, _: Admin, created: CreatedDep
) -> TokenIssued:
    """Issue a token to a staff member, or a feed token; its clear text is shown this once."""
    token, clear = auth.issue_token(data, session=session, now=now)
    created.at(token.id)
    return TokenIssued.model_validate({**token.model_dump(), "token": clear})


@router.get("/tokens", response_model=Items[TokenRead], status_code=200, responses=READ)
def list_tokens(session: SessionDep, _: Admin) -> Items[TokenRead]:
    """Every token ever issued, newest first (never their secret)."""
    tokens = auth.list_tokens(session=session)
    return Items(items=[TokenRead.model_validate(t, from_attributes=True) for t in tokens])


@router.post(
    "/tokens/{token_id}/revoke", response_model=TokenRead, status_code=200, responses=WRITE
)
def revoke_token(token_id: ResourceId, session: SessionDep, now: Now, _: Admin) -> TokenRead:
    """Revoke a token: requests with it get 401 from now on."""
    token = auth.revoke_token(token_id, session=session, now=now)
    return TokenRead.model_validate(token, from_attributes=True)
