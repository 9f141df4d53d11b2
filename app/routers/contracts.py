"""Contracts: HTTP only."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import Admin, Now, SessionDep, Viewer
from app.models.common import CustomerFilter, Limit, Offset, Page, ResourceId
from app.models.contract import ContractCreate, ContractRead, ContractUpdate
from app.models.renewal import ContractRenew
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.directory import contracts as service
from app.services.directory import renewals

router = APIRouter(prefix="/contracts", tags=["contracts"])

EndingWithin = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{1,4}d$",
        description="Only those in force today, not renewed, ending within this many days "
        "(e.g. `30d`).",
        examples=["30d"],
    ),
]
Lapsed = Annotated[
    bool | None,
    Query(description="true: only those that ended before today and were not renewed."),
]


@router.post("", response_model=ContractRead, status_code=201, responses=CREATE)
def create(
    data: ContractCreate, session: SessionDep, _: Admin, created: CreatedDep
) -> ContractRead:
    """Record an annual contract (R1); see the field defaults."""
    contract = service.read_contract(service.create_contract(data, session=session))
    created.at(contract.id)
    return contract


@router.get("", response_model=Page[ContractRead], status_code=200, responses=READ)
def list_(
    session: SessionDep,
    _: Viewer,
    now: Now,
    limit: Limit = 50,
    offset: Offset = 0,
    customer_id: CustomerFilter = None,
    active_on: Annotated[date | None, Query(description="Only those in force on this day.")] = None,
    ending_within: EndingWithin = None,
    lapsed: Lapsed = None,
) -> Page[ContractRead]:
    """List contracts, optionally one customer's, those active on a date, those ending soon
    or those lapsed without renewal (R1, R2)."""
    watch = None
    if ending_within is not None or lapsed is not None:
        watch = service.Watch(
            today=renewals.today_of(now, session=session),
            ending_within_days=None if ending_within is None else int(ending_within[:-1]),
            lapsed=lapsed,
        )
    rows, total = service.list_contracts(
        session=session,
        limit=limit,
        offset=offset,
        customer_id=customer_id,
        active_on=active_on,
        watch=watch,
    )
    return Page(
        items=[service.read_contract(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.post("/{contract_id}/renew", response_model=ContractRead, status_code=201, responses=CREATE)
def renew(
    contract_id: ResourceId, data: ContractRenew, session: SessionDep, _: Admin, created: CreatedDep
) -> ContractRead:
    """Renew a contract (R1): its next year starts the day after its last day, same coverage
    and calendar unless changed; a contract already renewed is 409."""
    contract = service.read_contract(renewals.renew_contract(contract_id, data, session=session))
    created.collection = created.collection.removesuffix(f"/{contract_id}/renew")  # a contract
    created.at(contract.id)
    return contract


@router.get("/{contract_id}", response_model=ContractRead, status_code=200, responses=READ)
def get(contract_id: ResourceId, session: SessionDep, _: Viewer) -> ContractRead:
    """One contract."""
    return service.read_contract(service.get_contract(contract_id, session=session))


@router.patch("/{contract_id}", response_model=ContractRead, status_code=200, responses=WRITE)
def update(
    contract_id: ResourceId, data: ContractUpdate, session: SessionDep, _: Admin
) -> ContractRead:
    """Change a contract; existing tickets keep their SLA snapshot."""
    return service.read_contract(service.update_contract(contract_id, data, session=session))
