"""Customers: who they are, which addresses and domains are theirs."""

from sqlmodel import Session, col, func, select

from app.errors import Conflict, NotFound, field_error
from app.models.base import utcnow
from app.models.customer import (
    Contact,
    ContactIn,
    ContactRead,
    Customer,
    CustomerCreate,
    CustomerDomain,
    CustomerRead,
    CustomerUpdate,
)
from app.services.notifications.letters import DEFAULT_LANGUAGE


def get_customer(customer_id: int, *, session: Session) -> Customer:
    """The customer, or NotFound."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"No customer with id {customer_id}.")
    return customer


def language_of(customer_id: int | None, *, session: Session) -> str:
    """The language of a customer's emails and pages; Italian for an unknown sender."""
    if customer_id is None:
        return DEFAULT_LANGUAGE
    language = session.exec(select(Customer.language).where(Customer.id == customer_id)).first()
    return language or DEFAULT_LANGUAGE


def read_customer(customer: Customer, *, session: Session) -> CustomerRead:
    """The API view of a customer, with its domains and contacts."""
    domains = session.exec(
        select(CustomerDomain.domain)
        .where(CustomerDomain.customer_id == customer.id)
        .order_by(col(CustomerDomain.domain))
    ).all()
    contacts = session.exec(
        select(Contact).where(Contact.customer_id == customer.id).order_by(col(Contact.email))
    ).all()
    return CustomerRead.model_validate(
        {
            **dict(customer),
            "email_domains": list(domains),
            "contacts": [ContactRead.model_validate(c, from_attributes=True) for c in contacts],
        }
    )


def _claim_addresses(
    customer_id: int,
    *,
    domains: list[str] | None,
    contacts: list[ContactIn] | None,
    session: Session,
) -> None:
    """Give the customer these domains/contacts; one owner each, else a 409 naming it."""
    if domains is not None:
        taken = session.exec(
            select(CustomerDomain).where(
                col(CustomerDomain.domain).in_(domains), CustomerDomain.customer_id != customer_id
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"The domain {taken.domain} already belongs to customer {taken.customer_id}.",
                errors=[field_error("email_domains", "domain already assigned")],
            )
        for row in session.exec(
            select(CustomerDomain).where(CustomerDomain.customer_id == customer_id)
        ):
            session.delete(row)
        session.flush()
        session.add_all(CustomerDomain(customer_id=customer_id, domain=d) for d in domains)
    if contacts is not None:
        emails = [c.email for c in contacts]
        if len(set(emails)) != len(emails):
            raise Conflict(
                "The same contact address is listed twice.",
                errors=[field_error("contacts", "duplicate email")],
            )
        taken_contact = session.exec(
            select(Contact).where(
                col(Contact.email).in_(emails), Contact.customer_id != customer_id
            )
        ).first()
        if taken_contact is not None:
            raise Conflict(
                f"The contact {taken_contact.email} already belongs to customer "
                f"{taken_contact.customer_id}.",
                errors=[field_error("contacts", "contact already assigned")],
            )
        for contact in session.exec(select(Contact).where(Contact.customer_id == customer_id)):
            session.delete(contact)
        session.flush()
        session.add_all(
            Contact(customer_id=customer_id, email=c.email, name=c.name) for c in contacts
        )
    session.flush()


def create_customer(data: CustomerCreate, *, session: Session) -> Customer:
    """Record a customer with its domains and contacts."""
    customer = Customer(name=data.name, language=data.language)
    session.add(customer)
    session.flush()
    assert customer.id is not None
    _claim_addresses(
        customer.id, domains=data.email_domains, contacts=data.contacts, session=session
    )
    return customer


def update_customer(customer_id: int, data: CustomerUpdate, *, session: Session) -> Customer:
    """Change a customer; lists given replace the old ones."""
    customer = get_customer(customer_id, session=session)
    if data.name is not None:
        customer.name = data.name
    if data.language is not None:
        customer.language = data.language
    _claim_addresses(
        customer_id, domains=data.email_domains, contacts=data.contacts, session=session
    )
    customer.updated_at = utcnow()
    session.add(customer)
    session.flush()
    return customer


def list_customers(*, session: Session, limit: int, offset: int) -> tuple[list[Customer], int]:
    """A page of customers by name, and how many there are."""
    total = session.exec(select(func.count()).select_from(Customer)).one()
    rows = session.exec(
        select(Customer).order_by(col(Customer.name), col(Customer.id)).limit(limit).offset(offset)
    ).all()
    return list(rows), total
