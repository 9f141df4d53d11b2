"""Contracts: HTTP only."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.deps import Admin, SessionDep, Viewer
from app.models.common import CustomerFilter, Limit, Offset, Page, ResourceId
from app.models.contract import ContractCreate, ContractRead, ContractUpdate
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.directory import contracts as service

router = APIRouter(prefix="/contracts", tags=["contracts"])


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
    limit: Limit = 50,
    offset: Offset = 0,
    customer_id: CustomerFilter = None,
    active_on: Annotated[date | None, Query(description="Only those in force on this day.")] = None,
) -> Page[ContractRead]:
    """List contracts, optionally one customer's or those active on a date."""
    rows, total = service.list_contracts(
        session=session, limit=limit, offset=offset, customer_id=customer_id, active_on=active_on
    )
    return Page(
        items=[service.read_contract(c) for c in rows], total=total, limit=limit, offset=offset
    )


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
