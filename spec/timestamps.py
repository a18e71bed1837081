"""The API's timestamps: ISO 8601 in UTC with a `Z`, to the millisecond. One writer, one reader."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def format_timestamp(moment: datetime | None) -> str | None:
    """`2026-11-02T12:00:00.000Z`: ISO 8601 UTC with millisecond precision and a `Z`."""
    if moment is None:
        return None
    m = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
            f"{m.microsecond // 1000:03d}Z")


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are read as UTC); ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def read_timestamp(value: object) -> datetime | None:
    """`parse_timestamp` for values of unknown shape (another server's answers): None when not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
