"""The configurable parts of the domain, read from the settings once (`knobs_from`) and handed
to services by the request (app.deps.get_knobs) and by the runners: services never read
settings themselves."""

from dataclasses import dataclass, field
from decimal import Decimal

from app.engine.rates import Rates, parse_surcharge
from app.services.retention import Retention
from app.settings import Settings


@dataclass(frozen=True)
class MailKnobs:
    """Who we are in emails, where staff alerts go, and the loop guard's limit (R11, R15)."""

    company_name: str = "MB Services & Consulting"
    support_address: str = "assistenza@example.com"
    staff_email: str | None = None
    alert_webhook: bool = False
    per_recipient_per_hour: int = 20
    public_url: str = "http://127.0.0.1:8000"

    @property
    def domain(self) -> str:
        """The domain of our Message-IDs: the support address's."""
        return self.support_address.rpartition("@")[2] or "sportello.invalid"

    def is_ours(self, address: str) -> bool:
        """One of our own addresses (an email to it would talk to ourselves)."""
        return address.lower() in {self.support_address.lower(), (self.staff_email or "").lower()}


@dataclass(frozen=True)
class Knobs:
    """R2's support target, the at-risk threshold, the mail identity and the support rates."""

    support_hours: Decimal | None
    at_risk_fraction: float
    mail: MailKnobs = field(default_factory=MailKnobs)
    rates: Rates = field(default_factory=Rates)
    lapsed_contract_days: int = 90  # R2: a request this soon after a contract's end says so


def knobs_from(settings: Settings) -> Knobs:
    """What services may know of the settings: SLA knobs and the mail identity."""
    return Knobs(
        support_hours=settings.support_take_charge_hours,
        at_risk_fraction=settings.at_risk_fraction,
        mail=MailKnobs(
            company_name=settings.company_name,
            support_address=settings.support_address,
            staff_email=settings.staff_email,
            alert_webhook=settings.alert_webhook_url is not None,
            per_recipient_per_hour=settings.max_emails_per_recipient_per_hour,
            public_url=settings.public_url.rstrip("/"),
        ),
        rates=rates_from(settings),
        lapsed_contract_days=settings.lapsed_contract_days,
    )


def rates_from(settings: Settings) -> Rates:
    """The support rates the settings give (R2, R13)."""
    percent, fixed = parse_surcharge(settings.priority_surcharge)
    return Rates(
        hourly=settings.support_hourly_rate,
        minimum_minutes=settings.support_minimum_minutes,
        rounding_minutes=settings.support_rounding_minutes,
        surcharge_percent=percent,
        surcharge_fixed=fixed,
    )


def retention_from(settings: Settings) -> Retention:
    """How long each class of personal data is kept (SPORTELLO_RETENTION_*; off when unset)."""
    return Retention(
        closed_ticket_months=settings.retention_closed_ticket_months,
        quarantine_days=settings.retention_quarantine_days,
        outbox_days=settings.retention_outbox_days,
        batch=settings.retention_batch,
    )
