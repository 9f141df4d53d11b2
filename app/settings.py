"""Configuration: one Settings object read from SPORTELLO_* environment variables."""

import ipaddress
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.engine.rates import parse_surcharge

MiB = 1024 * 1024
LOGO_MAX_BYTES = 256 * 1024
# What a logo may be, by its first bytes (never by its name).
_IMAGE_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}


def logo_type(data: bytes) -> str | None:
    """The image type of a logo file's bytes: PNG, JPEG or WebP; None for anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _IMAGE_SIGNATURES.items() if data.startswith(magic)), None)


class Settings(BaseSettings):
    """Every knob of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="SPORTELLO_", env_file=None, extra="ignore")

    database_url: str = "sqlite:///./sportello.db"
    admin_token: SecretStr | None = None
    log_level: str = "INFO"
    # json: one JSON object per line; text: plain lines; auto: text on a terminal, else JSON.
    log_format: Literal["auto", "json", "text"] = "auto"

    # Outgoing mail (R11 notifications): smtp://user:pass@host:port, smtps://... for implicit TLS.
    # Unset: emails are written as .eml files under outbox_dir instead (nothing leaves).
    smtp_url: SecretStr | None = None
    # The longest one email or webhook delivery may take, connection included; shorter than
    # worker_lease_seconds (a row is leased to its sender for longer than a send can last).
    smtp_timeout_seconds: float = Field(default=30, gt=0)
    outbox_dir: str = "var/outbox"
    company_name: str = "MB Services & Consulting"
    support_address: str = "assistenza@example.com"
    staff_email: str | None = None
    # Mobile on-call: staff alerts also POSTed here as JSON signed with HMAC-SHA256.
    alert_webhook_url: str | None = None
    alert_webhook_secret: SecretStr | None = None
    # The loop guard: more automatic emails than this to one address within an hour are held.
    max_emails_per_recipient_per_hour: int = Field(default=20, ge=1)

    # The outbox worker and the mailbox poller: `sportello serve` runs them in-process unless
    # `worker` is false.
    worker: bool = True
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    # Rows a worker delivers, claiming each on its own, before it looks for SLA alerts again.
    worker_batch: int = Field(default=50, ge=1, le=1000)
    # How long a claimed row is its worker's alone: its send and the time to record it.
    worker_lease_seconds: float = Field(default=300, gt=0)
    # Temporary failures are retried with backoff (from delivery_retry_seconds, doubling up to
    # an hour) for delivery_horizon_hours, then the row fails.
    delivery_horizon_hours: float = Field(default=24, gt=0)
    delivery_retry_seconds: float = Field(default=30, gt=0, le=3600)
    # Events to webhook subscriptions are retried for this long (docs/webhooks.md), then fail.
    webhook_horizon_hours: float = Field(default=24, gt=0)
    # Events are posted by this many lanes per worker at once (emails stay one at a time on
    # the worker's one SMTP connection); one ticket's events still go in order.
    worker_event_lanes: int = Field(default=8, ge=0, le=64)
    # At-risk staff alerts at these minutes of business time left (then the breach), looked
    # for every alert_scan_seconds by the worker.
    alert_steps_minutes: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [60])
    alert_scan_seconds: float = Field(default=60, gt=0)
    # A contract's end (R1): staff are told these days before its last day, then the day after
    # it, once each, in the default calendar's hours; a request within lapsed_contract_days of
    # the end, with no contract in force, is marked so and its receipt says so (R2).
    renewal_steps_days: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [60, 15])
    lapsed_contract_days: int = Field(default=90, ge=0, le=3660)

    # IMAP mailboxes (POST /api/v1/mailboxes) are read by the worker too: one reader per
    # mailbox across processes, under a lease renewed while reading; a reader that dies frees
    # its mailboxes when the lease ends.
    mailbox_lease_seconds: float = Field(default=120, ge=1)
    # The longest one IMAP step may take, start to end (connecting and logging in, or one
    # command such as fetching a message): a server slower than this, or silent, is cut off.
    imap_timeout_seconds: float = Field(default=60, gt=0)
    # IMAP servers' certificates are checked against the system's CAs, or this PEM file (a
    # private CA). There is no switch to skip the check.
    imap_ca_file: str | None = None

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Retention (GDPR art. 5(1)(e)), each off while unset, applied once a day by a runner in
    # batches of retention_batch rows: the message bodies and attachments of tickets closed
    # more than this many months ago (the tickets stay), quarantined deliveries received more
    # than this many days ago, and what sent emails and events said, this many days after.
    retention_closed_ticket_months: int | None = Field(default=None, ge=1, le=1200)
    retention_quarantine_days: int | None = Field(default=None, ge=1, le=36500)
    retention_outbox_days: int | None = Field(default=None, ge=1, le=36500)
    retention_batch: int = Field(default=500, ge=1, le=10000)

    # Secrets at rest (app.sealing): mailbox passwords and webhook secrets are sealed with
    # these Fernet keys (comma-separated; the first seals, all open: put a new key first, run
    # `sportello secrets rotate`, then drop the old one). Unset: the keys are read from
    # secret_keys_file, one a line, or for a SQLite database from `.sportello-secret-key`
    # beside it (`sportello serve` makes that file, 0600, on its first run).
    secret_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    secret_keys_file: str | None = None

    # Size limits (413 beyond them).
    max_json_bytes: int = Field(default=1 * MiB, gt=0)
    max_message_bytes: int = Field(default=25 * MiB, gt=0)
    max_file_bytes: int = Field(default=10 * MiB, gt=0)
    # A body still incomplete this many seconds after it began to be read is cut off (408).
    body_read_timeout_seconds: float = Field(default=60, gt=0)

    # SLA knobs.
    at_risk_fraction: float = Field(default=0.25, gt=0, lt=1)
    # R2: the support policy's take-charge target; unset means no contractual commitment.
    support_take_charge_hours: Decimal | None = Field(default=None, gt=0)

    # Billing at support rates (R2, R4, R13), EUR: per hour, the minimum charged per request,
    # the increment minutes are rounded up to, and the priority surcharge: "50%" of the time
    # at the hourly rate, or a fixed amount such as "25.00".
    support_hourly_rate: Decimal = Field(
        default=Decimal("60.00"), ge=0, max_digits=10, decimal_places=2
    )
    support_minimum_minutes: int = Field(default=30, ge=0, le=24 * 60)
    support_rounding_minutes: int = Field(default=15, ge=1, le=24 * 60)
    priority_surcharge: str = "50%"

    # Inbound mail authenticity.
    mailgun_signing_key: SecretStr | None = None
    inbound_username: str | None = None
    inbound_password: SecretStr | None = None

    # Public contact form.
    contact_thanks_url: str | None = None
    contact_rate_limit: int = Field(default=5, ge=1)
    contact_rate_window_seconds: int = Field(default=60, ge=1)
    # The customer's status page: views allowed per client address per window.
    status_rate_limit: int = Field(default=30, ge=1)
    # The key of the status page's form tokens (consent to billable work, R2, R13): a POST
    # without the token of the page it answers is refused. Unset: each link's own token is the
    # key (a form token can then be made by whoever holds the link). Same value in every process.
    form_secret: SecretStr | None = None
    # The agency's logo at the top of the customer's pages (its name is company_name): a PNG,
    # JPEG or WebP file of up to 256 KiB, served by the app (read at start: restart to change).
    logo_file: str | None = None
    # Where customers reach this service (the status links in their emails).
    public_url: str = "http://127.0.0.1:8000"
    # GET /metrics (Prometheus): served to this bearer token, or to these addresses or
    # networks (comma-separated; behind a proxy, set SPORTELLO_FORWARDED_ALLOW_IPS too).
    metrics_token: SecretStr | None = None
    metrics_allow_ips: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=lambda: [
            ipaddress.ip_network("127.0.0.1/32"),
            ipaddress.ip_network("::1/128"),
        ]
    )

    # The staff console under /console/ (false: 404). A session ends after console_idle_minutes
    # without use, and console_session_hours after sign-in whatever happens; sign-in attempts
    # are limited per client address and per account within console_sign_in_window_seconds;
    # a one-time sign-in link (`sportello staff login-link`) works once, within its minutes.
    console: bool = True
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    console_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    console_sign_in_limit: int = Field(default=10, ge=1)
    console_sign_in_window_seconds: int = Field(default=300, ge=1)
    console_link_minutes: int = Field(default=15, ge=1, le=24 * 60)

    # Proxies whose X-Forwarded-For is believed (comma-separated IPs or networks, or "*").
    # Unset: the client is the peer address itself.
    forwarded_allow_ips: str | None = None

    @model_validator(mode="after")
    def _webhook_is_signed(self) -> "Settings":
        if self.alert_webhook_url and not self.alert_webhook_secret:
            raise ValueError(
                "SPORTELLO_ALERT_WEBHOOK_SECRET is required with SPORTELLO_ALERT_WEBHOOK_URL "
                "(alerts are signed with it)"
            )
        return self

    @model_validator(mode="after")
    def _send_ends_within_its_lease(self) -> "Settings":
        # P2: a send that outlasted its row's lease could be made again by another worker.
        if self.smtp_timeout_seconds >= self.worker_lease_seconds:
            raise ValueError(
                f"SPORTELLO_SMTP_TIMEOUT_SECONDS ({self.smtp_timeout_seconds:g}) must be shorter "
                f"than SPORTELLO_WORKER_LEASE_SECONDS ({self.worker_lease_seconds:g}): a row is "
                "leased to one worker for as long as its send may take, so that no other worker "
                "sends it too"
            )
        return self

    @field_validator("logo_file")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        path = Path(value)
        try:
            with path.open("rb") as file:
                data = file.read(LOGO_MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot read the logo file {value!r}: {exc.strerror}") from None
        if len(data) > LOGO_MAX_BYTES:
            raise ValueError(f"the logo file is larger than {LOGO_MAX_BYTES // 1024} KiB")
        if logo_type(data) is None:
            # Not SVG: an SVG file may carry script, and these pages run none.
            raise ValueError("the logo file must be a PNG, JPEG or WebP image")
        return str(path)

    @field_validator("priority_surcharge")
    @classmethod
    def _surcharge(cls, value: str) -> str:
        parse_surcharge(value)
        return value

    @field_validator("alert_steps_minutes", "renewal_steps_days", mode="before")
    @classmethod
    def _split_steps(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(step) for step in value.split(",") if step.strip()]
        return value

    @field_validator("cors_origins", "metrics_allow_ips", "secret_keys", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
