"""Staff members: who works the desk, with which role; their tokens follow them."""

from sqlmodel import Session, col, select

from app.enums import Role
from app.errors import Conflict, NotFound, Unprocessable, field_error
from app.models.staff import StaffCreate, StaffMember, StaffUpdate


def get_staff(staff_id: int, *, session: Session) -> StaffMember:
    """The staff member, or NotFound."""
    member = session.get(StaffMember, staff_id)
    if member is None:
        raise NotFound(f"No staff member with id {staff_id}.")
    return member


def staff_by_email(email: str, *, session: Session) -> StaffMember:
    """The staff member with this address, or NotFound."""
    member = session.exec(select(StaffMember).where(StaffMember.email == email.lower())).first()
    if member is None:
        raise NotFound(f"No staff member with the address {email}.")
    return member


def list_staff(*, session: Session) -> list[StaffMember]:
    """Every staff member, by name."""
    return list(
        session.exec(select(StaffMember).order_by(col(StaffMember.name), col(StaffMember.id)))
    )


def _check_email_free(email: str, *, session: Session, other_than: int | None = None) -> None:
    taken = session.exec(select(StaffMember.id).where(StaffMember.email == email)).first()
    if taken is not None and taken != other_than:
        raise Conflict(
            f"The staff member {taken} has the address {email} already.",
            errors=[field_error("email", "taken")],
        )


def create_staff(data: StaffCreate, *, session: Session) -> StaffMember:
    """Add a staff member; an address belongs to one of them."""
    _check_email_free(data.email, session=session)
    member = StaffMember(name=data.name, email=data.email, role=data.role, language=data.language)
    session.add(member)
    session.flush()
    return member


def update_staff(staff_id: int, data: StaffUpdate, *, session: Session) -> StaffMember:
    """Rename, re-address, change the role of, or (de)activate a staff member."""
    member = get_staff(staff_id, session=session)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "role", "active", "language"):
        if field in changes and changes[field] is None:
            raise Unprocessable(
                f"{field} cannot be null.", errors=[field_error(field, "cannot be null")]
            )
    if changes.get("email") is not None:
        _check_email_free(changes["email"], session=session, other_than=staff_id)
    for field, value in changes.items():
        setattr(member, field, value)
    session.add(member)
    session.flush()
    return member


def staff_named(name: str, *, role: Role, session: Session) -> StaffMember:
    """The staff member called `name` without an address, made now if there is none: what a
    token issued by name alone (the older `token create --name`) belongs to."""
    member = session.exec(
        select(StaffMember)
        .where(StaffMember.name == name, col(StaffMember.email).is_(None))
        .order_by(col(StaffMember.id))
    ).first()
    if member is None:
        member = StaffMember(name=name, role=role)
        session.add(member)
        session.flush()
    return member
