"""All tables, imported so that SQLModel.metadata knows them (Alembic reads it)."""

from app.models.api_token import ApiToken
from app.models.audit import TicketEvent
from app.models.billing import BilledItem, TimeEntry
from app.models.calendar import Calendar
from app.models.consent import ConsentRecord
from app.models.console import ConsoleSession, SignInLink
from app.models.contract import Contract
from app.models.customer import Contact, Customer, CustomerDomain
from app.models.inbound import ContactHit
from app.models.mailbox import Mailbox
from app.models.message import Attachment, AttachmentBlob, Message, WebhookToken
from app.models.outbox import Outbox, OutboxAttempt
from app.models.privacy import Erasure
from app.models.quarantine import Quarantine
from app.models.renewal import ContractReminder
from app.models.retention import RetentionRun
from app.models.staff import StaffMember
from app.models.status_link import StatusLink
from app.models.ticket import Ticket
from app.models.webhook import WebhookSubscription

__all__ = [
    "ApiToken",
    "Attachment",
    "AttachmentBlob",
    "BilledItem",
    "Calendar",
    "ConsentRecord",
    "ConsoleSession",
    "Contact",
    "ContactHit",
    "Contract",
    "ContractReminder",
    "Customer",
    "CustomerDomain",
    "Erasure",
    "Mailbox",
    "Message",
    "Outbox",
    "OutboxAttempt",
    "Quarantine",
    "RetentionRun",
    "SignInLink",
    "StaffMember",
    "StatusLink",
    "Ticket",
    "TicketEvent",
    "TimeEntry",
    "WebhookSubscription",
    "WebhookToken",
]
