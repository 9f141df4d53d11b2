"""Customers: HTTP only."""

from fastapi import APIRouter

from app.deps import Admin, SessionDep, Viewer
from app.models.common import Limit, Offset, Page, ResourceId
from app.models.customer import CustomerCreate, CustomerRead, CustomerUpdate
from app.routers._responses import CREATE, READ, WRITE, CreatedDep
from app.services.directory import customers as service

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post("", response_model=CustomerRead, status_code=201, responses=CREATE)
def create(
    data: CustomerCreate, session: SessionDep, _: Admin, created: CreatedDep
) -> CustomerRead:
    """Record a customer with its email domains and contacts."""
    customer = service.create_customer(data, session=session)
    created.at(customer.id)
    return service.read_customer(customer, session=session)


@router.get("", response_model=Page[CustomerRead], status_code=200, responses=READ)
def list_(
    session: SessionDep, _: Viewer, limit: Limit = 50, offset: Offset = 0
) -> Page[CustomerRead]:
    """List customers by name."""
    rows, total = service.list_customers(session=session, limit=limit, offset=offset)
    return Page(
        items=[service.read_customer(c, session=session) for c in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{customer_id}", response_model=CustomerRead, status_code=200, responses=READ)
def get(customer_id: ResourceId, session: SessionDep, _: Viewer) -> CustomerRead:
    """One customer."""
    customer = service.get_customer(customer_id, session=session)
    return service.read_customer(customer, session=session)


@router.patch("/{customer_id}", response_model=CustomerRead, status_code=200, responses=WRITE)
def update(
    customer_id: ResourceId, data: CustomerUpdate, session: SessionDep, _: Admin
) -> CustomerRead:
    """Change a customer; `email_domains` and `contacts`, when given, replace the old lists."""
    customer = service.update_customer(customer_id, data, session=session)
    return service.read_customer(customer, session=session)
