"""The configurable parts of the domain, handed to services by the request (app.deps.get_knobs)
and by the worker: services never read settings themselves."""

from dataclasses import dataclass, field
from decimal import Decimal

from app.services.rates import Rates


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
