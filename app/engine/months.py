"""A calendar month in a time zone, as the half-open UTC span [start, end) that reports use."""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTH_PATTERN = r"^(20[0-9]{2})-(0[1-9]|1[0-2])$"
REPORT_TIMEZONE = "Europe/Rome"


@dataclass(frozen=True)
class Month:
    """`name` (YYYY-MM), its first day, and [start, end) in UTC: local midnights, so a month
    that contains a daylight-saving change is an hour shorter or longer, as it should be."""

    name: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    timezone: str

    @classmethod
    def parse(cls, name: str, timezone: str = REPORT_TIMEZONE) -> "Month":
        """The month `YYYY-MM` (years 2000-2099) in `timezone`, or ValueError."""
        match = re.fullmatch(MONTH_PATTERN, name)
        if match is None:
            raise ValueError(f"{name!r} is not a month YYYY-MM (2000-01 to 2099-12)")
        year, month = int(match[1]), int(match[2])
        zone = ZoneInfo(timezone)
        first = date(year, month, 1)
        following = date(year + month // 12, month % 12 + 1, 1)
        return cls(
            name=name,
            first_day=first,
            last_day=following - timedelta(days=1),
            start=datetime(first.year, first.month, 1, tzinfo=zone).astimezone(UTC),
            end=datetime(following.year, following.month, 1, tzinfo=zone).astimezone(UTC),
            timezone=timezone,
        )
