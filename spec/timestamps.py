"""The API's timestamps: ISO 8601 in UTC with a `Z`, to the millisecond. One writer, one reader."""

from __future__ import annotations

from datetime import datetime, timezone

UTC = timezone.utc


def format_timestamp(moment: datetime | None) -> str | None:
    """`2026-11-02T12:00:00.000Z`: ISO 8601 UTC with millisecond precision and a `Z`."""
    if moment is None:
        return None
    m = moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return m.isoformat(timespec="milliseconds")[:-6] + "Z"  # "...+00:00" ends it: a UTC instant's offset


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC (naive ones are read as UTC). An instant valid in its own offset but outside the years 1 to
    9999 in UTC (`0001-01-01T00:00:00+01:00`, `9999-12-31T23:59:59-01:00`) is held at the nearest representable
    one, so it still compares as earlier or later than every other."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.min if moment.year == 1 else datetime.max
        return edge.replace(tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (naive ones are read as UTC); ValueError otherwise."""
    return to_utc(datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")))


def read_timestamp(value: object) -> datetime | None:
    """`parse_timestamp` for values of unknown shape (another server's answers): None when not a timestamp."""
    if not isinstance(value, str):
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        return None
