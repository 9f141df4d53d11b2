"""What the pages around the desk show and take: the sections a role reads, dates in Rome time
and amounts in euro as the staff member's language writes them, and the forms' fields as the
API's request bodies (app.console.forms makes them into its input models, so a form is checked
exactly as the same JSON body would be)."""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from sqlmodel import Session, col, select

from app.enums import Category, Role
from app.models.calendar import Calendar
from app.models.contract import Contract
from app.models.customer import Customer
from app.services.directory.auth import Principal
from app.services.directory.contracts import has_successor

ROME = ZoneInfo("Europe/Rome")
CATEGORIES = tuple(Category)


@dataclass(frozen=True)
class Section:
    """A link of the console's bar: its path, its word (words.desk), the role that reads it."""

    path: str
    word: str
    role: Role


# The role of each page is the role of the API route that reads the same thing.
SECTIONS = (
    Section("/console/customers", "customers", Role.VIEWER),
    Section("/console/contracts", "contracts", Role.VIEWER),
    Section("/console/statement", "statement", Role.VIEWER),
    Section("/console/billing", "billing", Role.VIEWER),
    Section("/console/outbox", "outbox", Role.AGENT),
    Section("/console/quarantine", "quarantine", Role.AGENT),
    Section("/console/mailboxes", "mailboxes", Role.ADMIN),
    Section("/console/staff", "staff", Role.ADMIN),
)


def sections(principal: Principal) -> list[Section]:
    """The sections this staff member may read."""
    return [section for section in SECTIONS if principal.can(section.role)]


class Formats:
    """Dates in Rome time and amounts in euro as `language` writes them (`2 dic 2026, 17:00`,
    `1.200,00 €`)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def day(self, value: date | None) -> str:
        return "–" if value is None else format_date(value, "d MMM y", locale=self.language)

    def month(self, value: date) -> str:
        return format_date(value, "LLLL y", locale=self.language)

    def when(self, value: datetime | None) -> str:
        if value is None:
            return "–"
        return format_datetime(value, "d MMM y, HH:mm", tzinfo=ROME, locale=self.language)

    def euro(self, amount: Decimal | None) -> str:
        return "–" if amount is None else format_currency(amount, "EUR", locale=self.language)

    def amount(self, amount: Decimal | None) -> str:
        """A fee as its form field shows it back (`1200,00`): the same figure as typed."""
        if amount is None:
            return ""
        return format_decimal(amount, "0.00", locale=self.language)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_decimal(value, "#,##0.0", locale=self.language) + " %"

    def hours(self, value: Decimal | None) -> str:
        return "" if value is None else format_decimal(value, "0.##", locale=self.language)


def this_month(now: datetime) -> str:
    """The month it is in Rome: the reports' default."""
    return now.astimezone(ROME).strftime("%Y-%m")


def euro_input(text: str) -> str:
    """An amount as typed at the desk (`1.200,50`, `1200,5`, `€ 1200.50`) as the API's
    decimal string (`1200.50`); anything else is passed on for the schema to refuse."""
    text = text.replace("€", "").replace(" ", "").replace("\u00a0", "").strip()
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    return text


def lines(text: str) -> list[str]:
    """A textarea's non-empty lines, trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def contacts_input(text: str) -> list[dict[str, str]]:
    """Contacts typed one a line: the address then the name, or `Name <address>` as a mail
    program writes it."""
    contacts = []
    for line in lines(text):
        if re.search(r"<[^<>@\s]+@[^<>\s]+>\s*$", line):
            name, _, email = line.rstrip(">").rpartition("<")
        else:
            email, _, name = line.partition(" ")
        contacts.append({"email": email.strip("<>,; "), "name": name.strip().strip('"')})
    return contacts


def contacts_text(contacts: Iterable[Any]) -> str:
    """Contacts as the form shows them back."""
    return "\n".join(f"{c.email} {c.name}".strip() for c in contacts)


def customer_fields(*, name: str, language: str, domains: str, contacts: str) -> dict[str, Any]:
    """The customer form as the API's body (POST or PATCH): the lists replace the old ones."""
    return {
        "name": name.strip(),
        "language": language or "it",
        "email_domains": lines(domains),
        "contacts": contacts_input(contacts),
    }


def contract_fields(
    *,
    code: str,
    starts_on: str,
    ends_on: str,
    annual_fee: str,
    proposal_ref: str,
    coverage: Sequence[str],
    calendar_id: str,
    take_charge_hours: str,
) -> dict[str, Any]:
    """The contract form as the API's body; a field left empty takes the API's default."""
    data: dict[str, Any] = {
        "code": code.strip(),
        "starts_on": starts_on or None,
        "annual_fee": euro_input(annual_fee),
        "proposal_ref": proposal_ref.strip(),
        "coverage": list(coverage),
    }
    optional = {
        "ends_on": ends_on,
        "calendar_id": calendar_id,
        "take_charge_hours": euro_input(take_charge_hours),
    }
    data.update({key: value for key, value in optional.items() if value})
    return data


def renewal_fields(*, annual_fee: str, proposal_ref: str, code: str) -> dict[str, Any]:
    """The renewal form as the API's body (an empty code: the API names the next year's)."""
    data: dict[str, Any] = {
        "annual_fee": euro_input(annual_fee),
        "proposal_ref": proposal_ref.strip(),
    }
    if code.strip():
        data["code"] = code.strip()
    return data


def customer_names(session: Session) -> dict[int, str]:
    """Every customer's name by id, by name: the contract form's choice."""
    rows = session.exec(select(Customer.id, Customer.name).order_by(col(Customer.name)))
    return {row[0]: row[1] for row in rows if row[0] is not None}


def calendar_names(session: Session) -> dict[int, str]:
    """Every calendar's name by id."""
    rows = session.exec(select(Calendar.id, Calendar.name).order_by(col(Calendar.id)))
    return {row[0]: row[1] for row in rows if row[0] is not None}


def renewed_ids(contract_ids: Iterable[int], *, session: Session) -> set[int]:
    """Those of these contracts followed by a later one of their customer (renewed: a second
    renewal would be 409)."""
    wanted = list(contract_ids)
    if not wanted:
        return set()
    query = select(Contract.id).where(col(Contract.id).in_(wanted), has_successor())
    return {row for row in session.exec(query) if row is not None}
