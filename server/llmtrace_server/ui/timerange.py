"""The time range every page is read over: ``?range=1h|24h|7d|30d`` or ``range=custom`` with
``since``/``until``, and the chart interval that suits it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Query

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
# (interval name, seconds), smallest first: the first giving at most MAX_POINTS buckets is used.
INTERVALS: tuple[tuple[str, int], ...] = (
    ("1m", 60),
    ("5m", 300),
    ("15m", 900),
    ("1h", 3600),
    ("3h", 10800),
    ("6h", 21600),
    ("1d", 86400),
)
MAX_POINTS = 170  # a week of hours
ROLLUP_FROM = 86400  # ranges this long or longer are charted in whole hours


@dataclass(frozen=True, slots=True)
class TimeRange:
    name: str
    since: datetime
    until: datetime

    @property
    def interval(self) -> str:
        """The smallest interval giving at most MAX_POINTS buckets; whole hours from a day up, so
        that the hourly rollup answers the long ranges instead of raw spans."""
        seconds = (self.until - self.since).total_seconds()
        for name, step in INTERVALS:
            if seconds >= ROLLUP_FROM and step % 3600:
                continue
            if seconds / step <= MAX_POINTS:
                return name
        return INTERVALS[-1][0]

    def query(self) -> dict[str, str]:
        """URL parameters that reproduce this range."""
        if self.name != "custom":
            return {"range": self.name}
        return {"range": "custom", "since": _local(self.since), "until": _local(self.until)}


def parse_range(
    name: str | None, since: str | None, until: str | None, default: str = "24h", now: datetime | None = None
) -> TimeRange:
    """Named ranges end now and start on a whole hour when longer than a day (so the hourly
    rollup answers them); a custom range takes ``YYYY-MM-DDTHH:MM`` (UTC). 400 on bad input."""
    now = now or datetime.now(UTC)
    name = name or default
    if name == "custom":
        try:
            s = _parse(since) if since else now - RANGES[default]
            u = _parse(until) if until else now
        except ValueError as exc:
            raise HTTPException(400, f"bad time: {exc}; use YYYY-MM-DDTHH:MM (UTC)") from None
        if s >= u:
            raise HTTPException(400, "the range's start must be before its end")
        if u - s > timedelta(days=400):
            raise HTTPException(400, "a range may span at most 400 days")
        return TimeRange("custom", s, u)
    if name not in RANGES:
        raise HTTPException(400, f"unknown range {name!r}; use one of {', '.join(RANGES)} or custom")
    until_ = now
    if RANGES[name] > timedelta(hours=1):
        until_ = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return TimeRange(name, until_ - RANGES[name], until_)


RangeText = Annotated[str | None, Query(max_length=64)]


def _range_of_request(default: str) -> Callable[..., TimeRange]:
    def dependency(range: RangeText = None, since: RangeText = None, until: RangeText = None) -> TimeRange:
        return parse_range(range, since, until, default=default)

    return dependency


# A page's time range from ``range``/``since``/``until``, the last 24 hours or 7 days by default.
DayRange = Annotated[TimeRange, Depends(_range_of_request("24h"))]
WeekRange = Annotated[TimeRange, Depends(_range_of_request("7d"))]


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not 1970 <= value.year <= 2200:
        raise ValueError(f"{text} is outside 1970-2200")
    return value.astimezone(UTC)


def _local(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
