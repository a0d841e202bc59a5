"""Training windows: the rows of ``[as_of - window, as_of)``, by a date partition or a
timestamp column (the standard library only: the command line parses them before the heavy
imports; :mod:`logloss.data.windowing` applies them to the files and row groups).

A window over the hive partition key ``date`` (``date=YYYY-MM-DD`` directories) takes whole
partitions: the days that end in ``(start, end]`` (UTC), so a run at 02:00 takes the days before
it, never today's unfinished one; at midnight, the days of the window. A window over a
timestamp (or date) column takes the rows whose value is in it; times without a zone are UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "PARTITION_KEY",
    "Window",
    "WindowError",
    "days_of",
    "parse_as_of",
    "parse_duration",
]

PARTITION_KEY = "date"
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([wdhms])\s*$", re.IGNORECASE)


class WindowError(ValueError):
    """A window, an as-of time or a hold-out that cannot be read; the message says which."""


def parse_duration(text: str, what: str = "window") -> timedelta:
    """``"30d"``, ``"12h"``, ``"90m"``, ``"2w"``, ``"45s"`` as a positive timedelta."""
    m = _DURATION.match(str(text))
    if m is None:
        raise WindowError(
            f"{what} must be a duration such as 30d, 12h, 90m, 2w or 45s; got {text!r}"
        )
    span = timedelta(**{_UNITS[m[2].lower()]: float(m[1])})
    if span <= timedelta(0):
        raise WindowError(f"{what} must be longer than 0; got {text!r}")
    return span


def parse_as_of(value: str | datetime | date | None) -> datetime:
    """An ISO date or date-time (a zone converts it; none means UTC) as an aware UTC
    datetime; ``None``: now."""
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise WindowError(
                f"as_of must be an ISO date or time such as 2024-03-01 or "
                f"2024-03-01T06:00:00Z; got {value!r}"
            ) from None
    if not isinstance(value, datetime):  # a date: its midnight
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Window:
    """The rows of ``[start, end)``: over the partition key ``key`` (``column`` None) or the
    timestamp column ``column``. ``span`` is the length as written (``"30d"``)."""

    start: datetime
    end: datetime
    span: str = ""
    column: str | None = None
    key: str = PARTITION_KEY

    @classmethod
    def of(
        cls, span: str, as_of: str | datetime | date | None = None, column: str | None = None
    ) -> Window:
        """The window of length ``span`` ending at ``as_of`` (default now, UTC)."""
        end = parse_as_of(as_of)
        return cls(end - parse_duration(span), end, str(span).strip(), column or None)

    @property
    def by(self) -> str:
        """What it selects by, as a message says it."""
        if self.column is not None:
            return f"timestamp column {self.column!r}"
        return f"partitions {self.key}=YYYY-MM-DD"

    def describe(self) -> str:
        length = f"{self.span} " if self.span else ""
        return f"window {length}[{_iso(self.start)}, {_iso(self.end)}) of {self.by}"

    def split(self, holdout: str) -> tuple[Window, Window]:
        """(training window, hold-out window): the newest ``holdout`` of it held out."""
        cut = self.end - parse_duration(holdout, "holdout")
        if cut <= self.start:
            raise WindowError(
                f"holdout {holdout!r} is not shorter than the window {self.span or ''} "
                f"[{_iso(self.start)}, {_iso(self.end)})"
            )
        return replace(self, end=cut), replace(self, start=cut, span=str(holdout).strip())

    def to_json(self) -> dict[str, Any]:
        """The window as a version records it (its partitions or time range added by the
        data layer: ``partitions``)."""
        doc: dict[str, Any] = {
            "as_of": _iso(self.end),
            "window": self.span,
            "start": _iso(self.start),
            "end": _iso(self.end),
        }
        if self.column is not None:
            doc["column"] = self.column
        else:
            doc["partition_key"] = self.key
        return doc

    def holds_day(self, day: date) -> bool:
        """Whether the partition of ``day`` is in the window: the day (UTC) ends in
        ``(start, end]`` (it is over by ``end``, and ended after ``start``)."""
        t = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
        return self.start < t <= self.end


def days_of(paths: Any, key: str = PARTITION_KEY) -> list[str]:
    """The ``key=`` partition values on the way to ``paths``, sorted (for a version's record)."""
    found = re.compile(rf"(?:^|/){re.escape(key)}=([^/]+)/")
    return sorted({m[1] for p in paths if (m := found.search(str(p).replace("\\", "/")))})
