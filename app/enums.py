"""One vocabulary: the words the tables, the API schemas and the SLA engine share.

Each is a `StrEnum`, so a member is its string (stored and sent as such), OpenAPI lists the
values, and mypy catches a misspelt one.
"""

from enum import StrEnum


class Status(StrEnum):
    """Where a ticket is in its lifecycle (see app.services.tickets.lifecycle)."""

    NEW = "new"
    TAKEN_IN_CHARGE = "taken_in_charge"
    IN_PROGRESS = "in_progress"
    WAITING_THIRD_PARTY = "waiting_third_party"  # R10: waiting on a provider
    RESOLVED = "resolved"
    CLOSED = "closed"


OPEN_STATUSES = (Status.NEW, Status.TAKEN_IN_CHARGE, Status.IN_PROGRESS, Status.WAITING_THIRD_PARTY)


class Channel(StrEnum):
    """R6: requests arrive by email or the website's form; R7: never by telephone."""

    EMAIL = "email"
    WEB_FORM = "web_form"


class MessageKind(StrEnum):
    """What a message of a ticket's conversation is."""

    INBOUND = "inbound"  # the customer's (email or the contact form)
    REPLY = "reply"  # a staff member's email to the customer
    NOTE = "note"  # internal: never emailed, never on the status page
    AUTOMATIC = "automatic"  # our form letters (R11) and short notices


class Urgency(StrEnum):
    """R12/R13: claimed by URGENTE in the subject, then confirmed or rejected by staff."""

    NONE = "none"
    CLAIMED = "claimed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class Coverage(StrEnum):
    """Whether a request falls under an active contract that covers its category (R2-R5)."""

    CONTRACT = "contract"
    NOT_COVERED = "not_covered"
    NO_CONTRACT = "no_contract"


class Policy(StrEnum):
    """Whose terms run the take-charge clock: the contract, its on-call agreement, support."""

    CONTRACT = "contract"
    ON_CALL = "on_call"  # R16
    SUPPORT = "support"  # R2


class BillingReason(StrEnum):
    """Why a request is billed on top of the contract (R2, R3-R5, R13)."""

    NO_CONTRACT = "no_contract"
    NOT_COVERED = "not_covered"
    PRIORITY_SURCHARGE = "priority_surcharge"


class Consent(StrEnum):
    """Whether the customer agreed to billable work (R2, R4, R5, R13): asked on the status page."""

    PENDING = "pending"  # billable, not answered yet
    GIVEN = "given"
    DECLINED = "declined"
    NOT_NEEDED = "not_needed"  # covered by the contract: nothing to agree to


class SlaState(StrEnum):
    """Where a request stands against its take-charge deadline at some instant."""

    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"
    AT_RISK = "at_risk"
    MET = "met"
    BREACHED = "breached"


class DeliveryMode(StrEnum):
    """R14: how a resolution reaches the customer."""

    ONLINE = "online"
    REMOTE = "remote"


class Category(StrEnum):
    """What a request is about: website (R3), email and provider outage (R4), hosting, backup
    (R5)."""

    WEBSITE = "website"
    EMAIL = "email"
    PROVIDER_OUTAGE = "provider_outage"
    HOSTING = "hosting"
    BACKUP = "backup"


class Language(StrEnum):
    """The language of a customer's emails and pages."""

    IT = "it"
    EN = "en"


class Role(StrEnum):
    """What a token may do; each role includes the ones below it.

    `feed` only reads the deadline feed (calendar apps pass it in the URL, so it can do
    nothing else)."""

    FEED = "feed"
    VIEWER = "viewer"
    AGENT = "agent"
    ADMIN = "admin"


ROLE_RANK = {Role.FEED: 0, Role.VIEWER: 1, Role.AGENT: 2, Role.ADMIN: 3}


class OutboxState(StrEnum):
    """Where a queued email or alert stands."""

    PENDING = "pending"  # waiting for its (next) attempt, or in flight under a worker's lease
    SENT = "sent"  # the SMTP server or the webhook accepted it
    FAILED = "failed"  # refused for good, or still failing after the retry horizon
    HELD = "held"  # kept back by the loop guard or a missing address; the reason is recorded
    CANCELLED = "cancelled"  # no longer true (an SLA alert for a ticket since taken in charge)


class OutboxChannel(StrEnum):
    """How it leaves: an email (SMTP or .eml file), the staff alert webhook, or an event to a
    webhook subscription."""

    EMAIL = "email"
    WEBHOOK = "webhook"
    EVENT = "event"


class EventType(StrEnum):
    """What an event says happened (docs/webhooks.md lists each with its data)."""

    TICKET_CREATED = "ticket.created"
    TICKET_MESSAGE_RECEIVED = "ticket.message_received"
    TICKET_REPLIED = "ticket.replied"
    TICKET_TAKEN_IN_CHARGE = "ticket.taken_in_charge"
    TICKET_RESOLVED = "ticket.resolved"
    TICKET_REOPENED = "ticket.reopened"
    TICKET_ASSIGNED = "ticket.assigned"
    SLA_AT_RISK = "sla.at_risk"
    SLA_BREACHED = "sla.breached"
    EMAIL_FAILED = "email.failed"
    MAILBOX_FAILING = "mailbox.failing"
    MESSAGE_QUARANTINED = "message.quarantined"
    CONTRACT_ENDING = "contract.ending"
    CONTRACT_LAPSED = "contract.lapsed"


class MailboxSecurity(StrEnum):
    """How a connection to an IMAP mailbox is protected."""

    IMPLICIT_TLS = "implicit_tls"  # TLS from the first byte (port 993)
    STARTTLS = "starttls"  # plain, then upgraded to TLS before logging in (port 143)
    PLAIN = "plain"  # no TLS at all: refused for anything but a loopback address


class AfterStore(StrEnum):
    """What becomes of a message in the mailbox once it is stored as a ticket or reply."""

    MARK_SEEN = "mark_seen"  # flagged \\Seen, left where it is
    MOVE = "move"  # moved to another folder


class MailboxState(StrEnum):
    """How a mailbox's reading goes."""

    WAITING = "waiting"  # enabled, not read yet
    OK = "ok"  # the last attempt read it
    FAILING = "failing"  # the last attempt failed (see its error); retried with backoff
    DISABLED = "disabled"  # not read


class QuarantineReason(StrEnum):
    """Why a delivery that reached us could not become a ticket (P1: it is kept raw)."""

    NO_SENDER = "no_sender"  # no header names a usable sender
    NOT_AN_EMAIL = "not_an_email"  # not MIME, not the provider's payload, fields missing
    PARSER_ERROR = "parser_error"  # reading it raised an unexpected error
    INTAKE_ERROR = "intake_error"  # intake raised an unexpected error on it
    FILE_TOO_LARGE = "file_too_large"  # an attachment over SPORTELLO_MAX_FILE_BYTES


class QuarantineState(StrEnum):
    """Where a quarantined delivery stands."""

    HELD = "held"  # kept raw, waiting for staff (retry it, or delete it)
    RELEASED = "released"  # retried into a ticket
