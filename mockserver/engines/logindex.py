"""An organization's logs with the indexes its reads need, so a read never scans every log.

`LogTable` is the `org.logs` dict (log id -> log, in insertion order) plus two indexes, each
built on first use and then kept up to date by every mutation of the dict, however it is made
(`ingest_logs`, a fixtures file, a test writing `org.logs[id] = log`, a project delete):

* **Listing** — logs sorted by (timestamp, id), all together and per project, end user, status
  and (project, status), so `GET /logs` pages by slicing instead of sorting 100k logs.
* **Buckets** — per (project, UTC hour): the logs, and a `Cell` of counts, tokens, cost and
  latency per (provider, model). Whole-organization and whole-day cells are merged from those
  on demand and cached until a log of that hour changes; per (end user, hour) a spend total.
  A window [start, end] is answered from whole days, then whole hours, then the logs of the at
  most two hours it cuts through, checked one by one exactly as the brute-force code checks
  them. Analytics and budget spend therefore cost O(days + hours + logs in two hours).

Results are exactly those of the brute-force definitions (`analytics.report`,
`budgets.current_spend`, `simulations.select_logs`, `decisions_summary`): integer sums are
exact in any order, costs are summed as integer micro-dollars (plus the exact remainder of any
cost with more than six decimals), and ties in "most requests first" are broken by each
group's first log in insertion order, as the dict order did. One figure is not decomposable:
a float sum of non-integer latencies (or token counts) depends on addition order, so when a
window holds any such log the report is recomputed by `analytics.report` over that window's
logs in insertion order (bounded by the window, not by all logs).

Logs are immutable once stored: to change one, store it again under its id. The table is
not locked by itself; like the rest of the world it is read and written under `world.lock`.
"""

from __future__ import annotations

import bisect
import gc
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterable, Iterator

from ..clock import UTC, iso, parse_iso
from ..tables import Table, active
from .analytics import SignalRule, WindowCounts, in_window, log_cost, report, report_document, status_in, window_counts

Resource = dict[str, Any]
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_order = itemgetter("timestamp", "id")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects at once.

    Each allocation burst triggers collections that rescan every live object; with a world of
    100k logs (millions of objects) a bulk build otherwise spends a fifth of its time there.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ── per-log facts ───────────────────────────────────────────────────────────


def stored(timestamp: Any) -> bool:
    """Whether a timestamp has the stored form, ISO with ms and Z: such texts sort as their moments."""
    return type(timestamp) is str and len(timestamp) == 24 and timestamp[23] == "Z" and timestamp[10] == "T" \
        and timestamp[19] == "."


def hour_of(timestamp: str) -> str:
    """"YYYY-MM-DDTHH" of the UTC hour a log timestamp falls in (stored timestamps are ISO with ms
    and Z; anything else is parsed)."""
    if stored(timestamp):
        return timestamp[:13]
    return iso(parse_iso(timestamp))[:13]  # type: ignore[index]


def hour_key(moment: datetime) -> str:
    return iso(moment)[:13]  # type: ignore[index]


@lru_cache(maxsize=65536)
def hour_start(key: str) -> datetime:
    return datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), tzinfo=UTC)


def _cost_parts(log: Resource) -> tuple[int, Any]:
    """(quantized cost in micro-dollars, exact remainder). Analytics adds the quantized costs
    (`analytics.log_cost`), budgets the exact ones; the remainder is 0 for six-decimal costs."""
    raw = log.get("cost_usd")
    if not raw:
        return 0, 0
    if type(raw) is str and len(raw) > 7 and raw[-7] == ".":
        digits = raw[:-7] + raw[-6:]
        if digits.isascii() and digits.isdigit():
            return int(digits), 0
    quantized = log_cost(log)
    return int(quantized.scaleb(6)), Decimal(raw) - quantized


def _whole(value: Any) -> int | None:
    """A latency as an int when adding it is exact in any order, else None (its mean is a float
    either way)."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


Facts = tuple  # (tokens, micros, remainder, latency, timed, odd, errors) of one log


def _facts(log: Resource) -> Facts:
    """What one log adds to a `Cell`; `odd` counts values whose float sum depends on order."""
    odd = 0
    tokens = log.get("total_tokens") or 0
    if type(tokens) is not int:  # a float (even 100.0) would make the reported total a float
        tokens, odd = 0, 1
    micros, remainder = _cost_parts(log)
    latency, timed = log.get("latency_ms"), 0
    if latency is None:
        latency = 0
    else:
        timed = 1
        latency = _whole(latency)
        if latency is None:
            latency, odd = 0, odd + 1
    return tokens, micros, remainder, latency, timed, odd, 1 if log.get("status") == "error" else 0


class Cell:
    """Aggregates of some logs: what `analytics._Totals` sums, plus budget spend and the
    insertion position (`first`) of the earliest log, which orders ties."""

    __slots__ = ("count", "tokens", "micros", "remainder", "latency", "timed", "odd", "errors", "first")

    def __init__(self) -> None:
        self.count = self.tokens = self.micros = self.latency = self.timed = self.odd = self.errors = 0
        self.remainder: Any = 0
        self.first = -1

    def add(self, log: Resource, seq: int) -> None:
        self.take(_facts(log), seq)

    def take(self, facts: Facts, seq: int) -> None:
        tokens, micros, remainder, latency, timed, odd, errors = facts
        self.count += 1
        self.tokens += tokens
        self.micros += micros
        if remainder:
            self.remainder += remainder
        self.latency += latency
        self.timed += timed
        self.odd += odd
        self.errors += errors
        if self.first < 0 or seq < self.first:
            self.first = seq

    def merge(self, other: "Cell") -> None:
        self.count += other.count
        self.tokens += other.tokens
        self.micros += other.micros
        if other.remainder:
            self.remainder += other.remainder
        self.latency += other.latency
        self.timed += other.timed
        self.odd += other.odd
        self.errors += other.errors
        if other.first >= 0 and (self.first < 0 or other.first < self.first):
            self.first = other.first

    def spend(self) -> Decimal:
        """The exact sum of the costs (what `budgets.current_spend` adds)."""
        return Decimal(self.micros).scaleb(-6) + self.remainder

    def fields(self) -> dict[str, Any]:
        """Exactly `analytics._Totals.fields()` for the same logs (when `odd` is 0)."""
        return {
            "request_count": self.count,
            "total_tokens": self.tokens,
            "total_cost_usd": str(Decimal(self.micros).scaleb(-6).quantize(Decimal("0.000001"))),
            "avg_latency_ms": round(float(self.latency) / self.timed, 2) if self.timed else 0.0,
        }


def _group(log: Resource) -> tuple[Any, Any]:
    """Cells are kept per stored (provider, model); reports label a missing one "unknown"."""
    return log.get("provider"), log.get("model_used")


class _Agg:
    """Cells of one scope and bucket: per (provider, model), and their total."""

    __slots__ = ("groups", "total")

    def __init__(self) -> None:
        self.groups: dict[tuple[Any, Any], Cell] = {}
        self.total = Cell()

    def merge(self, other: "_Agg") -> None:
        for key, cell in other.groups.items():
            mine = self.groups.get(key)
            if mine is None:
                mine = self.groups[key] = Cell()
            mine.merge(cell)
        self.total.merge(other.total)


class _HourBucket(_Agg):
    """One project's logs in one UTC hour, in insertion order, and their cells; the timestamps of
    its earliest and latest log (None when any is not in the stored form), so a window that holds
    them both takes the bucket whole."""

    __slots__ = ("logs", "earliest", "latest")

    def __init__(self) -> None:
        super().__init__()
        self.logs: list[Resource] = []
        self.earliest: str | None = None
        self.latest: str | None = None

    def note(self, timestamp: str) -> None:
        """Widen the bounds to the timestamp of the log just appended."""
        if self.earliest is None:
            if len(self.logs) == 1 and stored(timestamp):
                self.earliest = self.latest = timestamp
        elif not stored(timestamp):
            self.earliest = self.latest = None
        elif timestamp < self.earliest:
            self.earliest = timestamp
        elif timestamp > self.latest:  # type: ignore[operator]
            self.latest = timestamp

    def take(self, log: Resource, facts: Facts, seq: int) -> None:
        key = (log.get("provider"), log.get("model_used"))
        cell = self.groups.get(key)
        if cell is None:
            cell = self.groups[key] = Cell()
        cell.take(facts, seq)

    def rebuild(self, seqs: dict[str, int]) -> None:
        self.groups = {}
        for log in self.logs:
            self.take(log, _facts(log), seqs[log["id"]])
        self.total_up()
        stamps = [log["timestamp"] for log in self.logs]
        known = all(map(stored, stamps))
        self.earliest, self.latest = (min(stamps), max(stamps)) if known else (None, None)

    def total_up(self) -> None:
        self.total = Cell()
        for cell in self.groups.values():
            self.total.merge(cell)


# ── windows ─────────────────────────────────────────────────────────────────


class _Window:
    """Which buckets of a scope lie wholly inside [lo, hi] (or (lo, hi]) and which it cuts."""

    def __init__(self, keys: list[str], lo: datetime | None, hi: datetime | None, lo_open: bool = False):
        lo_text, hi_text = iso(lo), iso(hi)
        first = 0 if lo_text is None else bisect.bisect_left(keys, lo_text[:13])
        last = len(keys) if hi_text is None else bisect.bisect_right(keys, hi_text[:13])
        self.lo, self.hi, self.lo_open = lo, hi, lo_open
        self._texts: tuple[str | None, str | None] | None = None
        self.days: list[str] = []  # whole days
        self.hours: list[str] = []  # whole hours outside whole days
        self.edges: list[str] = []  # hours partly inside: check their logs one by one
        # Keys (and days) from `whole_from` to `whole_to` are hours (and days) wholly inside: those
        # starting at lo or later (later when open), ending by hi.
        whole_from = days_from = whole_to = days_to = None
        if lo_text is not None:
            exact = lo.microsecond == 0 and lo_text[13:] == ":00:00.000Z" and not lo_open  # type: ignore[union-attr]
            whole_from = lo_text[:13] if exact else _next_hour(lo_text[:13])
            days_from = lo_text[:10] if exact and lo_text[11:13] == "00" else _next_day(lo_text[:10])
        if hi_text is not None:
            whole_to, days_to = _previous_hour(hi_text[:13]), _previous_day(hi_text[:10])
        index = first
        while index < last:
            key = keys[index]
            if (whole_from is not None and key < whole_from) or (whole_to is not None and key > whole_to):
                self.edges.append(key)
                index += 1
                continue
            day = key[:10]
            if (days_from is None or day >= days_from) and (days_to is None or day <= days_to):
                self.days.append(day)  # every hour of it is inside: on to the next day
                index = bisect.bisect_left(keys, day + "U", index, last)
                continue
            self.hours.append(key)
            index += 1

    def holds(self, bucket: _HourBucket) -> bool:
        """Whether every log of `bucket` is inside (known from its bounds; False when they are unknown)."""
        if bucket.earliest is None:
            return False
        if self._texts is None:
            self._texts = self._bounds_as_text()
        first, last = self._texts
        return (first is None or bucket.earliest >= first) and (last is None or bucket.latest <= last)  # type: ignore[operator]

    def _bounds_as_text(self) -> tuple[str | None, str | None]:
        """The earliest and latest stored timestamps inside: stored timestamps have whole
        milliseconds, so <= hi is <= hi's millisecond, >= lo is >= the next whole one, > lo is past lo's."""
        lo, hi = self.lo, self.hi
        last = iso(hi) if hi is not None else None
        if lo is None:
            return None, last
        step = timedelta(milliseconds=1)
        floor = lo.replace(microsecond=lo.microsecond // 1000 * 1000)
        first = floor + step if self.lo_open or floor != lo else floor
        return iso(first), last

    def admits(self, moment: datetime) -> bool:
        lo, hi = self.lo, self.hi
        if lo is not None and (moment <= lo if self.lo_open else moment < lo):
            return False
        return hi is None or moment <= hi


@lru_cache(maxsize=65536)
def _next_hour(key: str) -> str:
    return hour_key(hour_start(key) + HOUR)


@lru_cache(maxsize=65536)
def _previous_hour(key: str) -> str:
    return hour_key(hour_start(key) - HOUR)


@lru_cache(maxsize=4096)
def _next_day(day: str) -> str:
    return hour_key(hour_start(day + "T00") + DAY)[:10]


@lru_cache(maxsize=4096)
def _previous_day(day: str) -> str:
    return hour_key(hour_start(day + "T00") - DAY)[:10]


def _day_keys(keys: list[str], day: str) -> list[str]:
    return keys[bisect.bisect_left(keys, day):bisect.bisect_left(keys, day + "U")]


# ── the buckets index ───────────────────────────────────────────────────────


class _Buckets:
    def __init__(self, logs: Iterable[Resource] = ()) -> None:
        """Index `logs` (in insertion order) in one pass; hour lists are sorted once at the end."""
        self.seq: dict[str, int] = {}  # log id -> position in insertion order (ties, `logs_in`)
        self.projects: dict[str, dict[str, _HourBucket]] = {}  # project -> hour -> bucket
        self.keys: dict[str | None, list[str]] = {None: []}  # sorted hours per project; None: any project
        self.by_hour: dict[str, dict[str, _HourBucket]] = {}  # hour -> project -> bucket
        # end user (None: anonymous) -> hour -> [micros, remainder]; their logs are in `by_hour`
        self.users: dict[str | None, dict[str, list[Any]]] = {}
        self.user_keys: dict[str | None, list[str]] = {}
        # provider -> hour -> [requests, errors] (traffic signals: provider health)
        self.providers: dict[str, dict[str, list[int]]] = {}
        self.provider_keys: dict[str, list[str]] = {}
        self.merged: dict[tuple[str | None, str], _Agg] = {}  # (project or None, hour or day) -> cells
        self.totals: dict[tuple[str | None, str], Cell] = {}  # the same, their totals alone (`_total`)
        seq = -1
        for seq, log in enumerate(logs):
            self.seq[log["id"]] = seq
            self._place(log, seq, append=list.append)
        self.next_seq = seq + 1
        for keys in (*self.keys.values(), *self.user_keys.values(), *self.provider_keys.values()):
            keys.sort()
        for hours in self.projects.values():
            for bucket in hours.values():
                bucket.total_up()

    # maintenance

    def add(self, logs: Iterable[Resource]) -> None:
        """File logs, one after the other; the merged cells of each (project, hour) they fall in are
        forgotten once."""
        seqs, touched = self.seq, {}
        for log in logs:
            ident = log["id"]
            seq = seqs.get(ident)
            if seq is None:
                seq = seqs[ident] = self.next_seq
                self.next_seq += 1
            bucket, facts, hour = self._place(log, seq, append=bisect.insort)
            bucket.total.take(facts, seq)
            touched[log["project_id"], hour] = None
        if self.merged or self.totals:
            for project, hour in touched:
                self._forget(project, hour)

    def _place(self, log: Resource, seq: int, append: Any) -> tuple[_HourBucket, Facts, str]:
        """File a log under its (project, hour) and (end user, hour); `append` adds a new hour to
        a list of hours (`bisect.insort` keeps it sorted, `list.append` leaves that for later)."""
        project, stamp = log["project_id"], log["timestamp"]
        hour = hour_of(stamp)
        bucket = _slot(self.projects, self.keys, project, hour, _HourBucket, append)
        if not bucket.logs:  # a new (project, hour)
            others = self.by_hour.get(hour)
            if others is None:
                others = self.by_hour[hour] = {}
                append(self.keys[None], hour)
            others[project] = bucket
        bucket.logs.append(log)
        bucket.note(stamp)
        facts = _facts(log)
        bucket.take(log, facts, seq)
        # None too: an end-user budget without an id counts the anonymous logs
        spent = _slot(self.users, self.user_keys, log.get("end_user_id"), hour, _pair, append)
        spent[0] += facts[1]
        if facts[2]:
            spent[1] += facts[2]
        provider = log.get("provider")
        if provider:
            seen = _slot(self.providers, self.provider_keys, provider, hour, _pair, append)
            seen[0] += 1
            seen[1] += facts[6]
        return bucket, facts, hour

    def remove(self, logs: Iterable[Resource], keep_seq: bool = False) -> None:
        """Take logs out; each bucket they leave is recomputed once from the logs it keeps."""
        gone: dict[tuple[str, str], set[int]] = {}
        users: dict[str, set[Any]] = {}  # hour -> end users whose spend in it changes
        for log in logs:
            if not keep_seq:
                self.seq.pop(log["id"], None)
            hour = hour_of(log["timestamp"])
            provider = log.get("provider")
            if provider:
                seen = self.providers[provider][hour]
                seen[0] -= 1
                seen[1] -= 1 if log.get("status") == "error" else 0
                if not seen[0]:
                    del self.providers[provider][hour]
                    _discard(self.provider_keys[provider], hour)
                    if not self.providers[provider]:
                        del self.providers[provider], self.provider_keys[provider]
            gone.setdefault((log["project_id"], hour), set()).add(id(log))
            users.setdefault(hour, set()).add(log.get("end_user_id"))
        for (project, hour), ids in gone.items():
            hours = self.projects[project]
            bucket = hours[hour]
            bucket.logs = [log for log in bucket.logs if id(log) not in ids]
            if bucket.logs:
                bucket.rebuild(self.seq)
            else:
                del hours[hour]
                _discard(self.keys[project], hour)
                others = self.by_hour[hour]
                del others[project]
                if not others:
                    del self.by_hour[hour]
                    _discard(self.keys[None], hour)
                if not hours:
                    del self.projects[project], self.keys[project]
            if self.merged or self.totals:
                self._forget(project, hour)
        for hour, changed in users.items():  # recount those users' spend from the hour's remaining logs
            spent = {user: Cell() for user in changed}
            for seq, log in self._edge_logs(None, hour) if hour in self.by_hour else ():
                user = log.get("end_user_id")
                if user in spent:
                    spent[user].add(log, seq)
            for user, cell in spent.items():
                mine = self.users[user]
                if cell.count:
                    mine[hour] = [cell.micros, cell.remainder]
                    continue
                del mine[hour]
                _discard(self.user_keys[user], hour)
                if not mine:
                    del self.users[user], self.user_keys[user]

    def _forget(self, project: str, hour: str) -> None:
        day = hour[:10]
        for key in ((None, hour), (project, day), (None, day)):
            self.merged.pop(key, None)
            self.totals.pop(key, None)

    # reads

    def _hour(self, project: str | None, hour: str) -> _Agg:
        if project is not None:
            return self.projects[project][hour]
        found = self.merged.get((None, hour))
        if found is None:
            found = self.merged[(None, hour)] = _Agg()
            for bucket in self.by_hour[hour].values():
                found.merge(bucket)
        return found

    def _day(self, project: str | None, day: str) -> _Agg:
        found = self.merged.get((project, day))
        if found is None:
            found = self.merged[(project, day)] = _Agg()
            for hour in _day_keys(self.keys[project], day):
                found.merge(self._hour(project, hour))
        return found

    def _total(self, project: str | None, span: str) -> Cell:
        """The total cell of the scope's logs in an hour ("YYYY-MM-DDTHH") or a day ("YYYY-MM-DD"), what
        spend adds up: merged from the buckets' totals alone, without cells per (provider, model)."""
        if project is not None and len(span) == 13:
            return self.projects[project][span].total
        found = self.totals.get((project, span))
        if found is None:
            agg = self.merged.get((project, span))
            if agg is not None:
                return agg.total
            found = Cell()
            for cell in ((bucket.total for bucket in self.by_hour[span].values()) if len(span) == 13 else
                         (self._total(project, hour) for hour in _day_keys(self.keys[project], span))):
                found.merge(cell)
            self.totals[(project, span)] = found
        return found

    def _buckets(self, project: str | None, hour: str) -> Iterable[_HourBucket]:
        """The scope's buckets of one hour (every project's when `project` is None)."""
        return self.by_hour[hour].values() if project is None else (self.projects[project][hour],)

    def _edge_logs(self, project: str | None, hour: str) -> Iterator[tuple[int, Resource]]:
        """(seq, log) of the scope's logs in one hour."""
        seqs = self.seq
        for bucket in self._buckets(project, hour):
            for log in bucket.logs:
                yield seqs[log["id"]], log

    def window(self, project: str | None, lo: datetime | None, hi: datetime | None, lo_open: bool = False) -> _Window:
        return _Window(self.keys.get(project, []), lo, hi, lo_open)

    def spend(self, project: str | None, lo: datetime, lo_open: bool, hi: datetime) -> Decimal:
        plan = self.window(project, lo, hi, lo_open)
        micros, remainder = 0, Decimal(0)
        wholes = [self._total(project, span) for span in plan.days + plan.hours]
        seqs, total = self.seq, Cell()
        for hour in plan.edges:
            for bucket in self._buckets(project, hour):
                if plan.holds(bucket):
                    wholes.append(bucket.total)
                    continue
                for log in bucket.logs:
                    if plan.admits(parse_iso(log["timestamp"])):
                        total.add(log, seqs[log["id"]])
        for cell in wholes:
            micros += cell.micros
            if cell.remainder:
                remainder += cell.remainder
        return Decimal(micros + total.micros).scaleb(-6) + remainder + total.remainder

    def user_spend(self, user: str | None, lo: datetime, lo_open: bool, hi: datetime) -> Decimal:
        hours = self.users.get(user)
        if not hours:
            return Decimal(0)
        plan = _Window(self.user_keys[user], lo, hi, lo_open)
        micros, remainder = 0, Decimal(0)
        for hour in [h for day in plan.days for h in _day_keys(self.user_keys[user], day)] + plan.hours:
            micros += hours[hour][0]
            remainder += hours[hour][1]
        total = Cell()
        for hour in plan.edges:
            if all(map(plan.holds, self._buckets(None, hour))):
                micros += hours[hour][0]
                remainder += hours[hour][1]
                continue
            for seq, log in self._edge_logs(None, hour):
                if log.get("end_user_id") == user and plan.admits(parse_iso(log["timestamp"])):
                    total.add(log, seq)
        return Decimal(micros + total.micros).scaleb(-6) + remainder + total.remainder

    def logs_in(self, project: str | None, start: datetime | None, end: datetime | None) -> list[Resource]:
        """The logs with start <= timestamp <= end (`analytics.in_window`), in insertion order."""
        plan = self.window(project, start, end)
        found: list[tuple[int, Resource]] = []
        for day in plan.days:
            for hour in _day_keys(self.keys[project], day):
                found.extend(self._edge_logs(project, hour))
        for hour in plan.hours:
            found.extend(self._edge_logs(project, hour))
        for hour in plan.edges:
            found.extend(item for item in self._edge_logs(project, hour) if in_window(item[1], start, end))
        found.sort(key=itemgetter(0))
        return [log for _, log in found]

    def hourly_counts(self, key: str, wanted: set[str] | None, since: datetime | None = None) -> WindowCounts:
        """`analytics.window_counts` for hourly windows (`key` "project_id" or "provider"), from cells;
        `wanted`: only these groups; `since`: only the hours from then on."""
        counts: WindowCounts = {}
        first = None if since is None else hour_key(since)
        if key == "project_id":
            for project, hours in self.projects.items():
                if project and (wanted is None or project in wanted):
                    for hour in _from(self.keys[project], first):
                        total = hours[hour].total
                        counts[(project, hour_start(hour))] = [total.count, total.errors]
            return counts
        for provider, hours in self.providers.items():
            if wanted is None or provider in wanted:
                for hour in _from(self.provider_keys[provider], first):
                    counts[(provider, hour_start(hour))] = list(hours[hour])
        return counts

    def last_hour(self, provider: str, before: datetime, busy: Any) -> list[int] | None:
        """[requests, errors] of the provider's last hour before `before` for which `busy(requests)`."""
        keys, hours = self.provider_keys.get(provider, []), self.providers.get(provider, {})
        for index in range(bisect.bisect_left(keys, hour_key(before)) - 1, -1, -1):
            if busy(hours[keys[index]][0]):
                return hours[keys[index]]
        return None

    def report(self, project: str | None, start: datetime | None, end: datetime | None, bucket: str) -> dict[str, Any]:
        """`analytics.report` of the scope's logs, from cells."""
        plan = self.window(project, start, end)
        total = Cell()
        providers: dict[str, Cell] = {}
        models: dict[str, Cell] = {}
        series: dict[str, Cell] = {}

        def take(agg: _Agg, label: str | None) -> None:
            for (provider, model), cell in agg.groups.items():
                _cell(providers, provider or "unknown").merge(cell)
                _cell(models, model or "unknown").merge(cell)
            total.merge(agg.total)
            if label is not None:
                _cell(series, label).merge(agg.total)

        for day in plan.days:
            take(self._day(project, day), day if bucket == "day" else None)
            if bucket != "day":
                for hour in _day_keys(self.keys[project], day):
                    _cell(series, hour).merge(self._hour(project, hour).total)
        for hour in plan.hours:
            take(self._hour(project, hour), hour[:10] if bucket == "day" else hour)
        for hour in plan.edges:
            label = hour[:10] if bucket == "day" else hour
            for seq, log in self._edge_logs(project, hour):
                if in_window(log, start, end):
                    provider, model = _group(log)
                    for cell in (_cell(providers, provider or "unknown"), _cell(models, model or "unknown"), total,
                                 _cell(series, label)):
                        cell.add(log, seq)
        if total.odd:  # float sums that depend on addition order: add them in the original order
            return report(self.logs_in(project, start, end), start, end, bucket)
        suffix = "T00:00:00.000Z" if bucket == "day" else ":00:00.000Z"
        return report_document(total, _ranked(providers), _ranked(models),
                               [(label + suffix, cell) for label, cell in sorted(series.items())], start, end, bucket)


def _pair() -> list[Any]:
    return [0, 0]


def _slot(table: dict[Any, dict[str, Any]], keys: dict[Any, list[str]], owner: Any, hour: str, make: Any,
          append: Any) -> Any:
    """table[owner][hour], made by `make()` when new, its hour then filed in keys[owner] by `append`."""
    hours = table.get(owner)
    if hours is None:
        hours = table[owner] = {}
        keys[owner] = []
    found = hours.get(hour)
    if found is None:
        found = hours[hour] = make()
        append(keys[owner], hour)
    return found


def _cell(table: dict[str, Cell], key: str) -> Cell:
    found = table.get(key)
    if found is None:
        found = table[key] = Cell()
    return found


def _ranked(table: dict[str, Cell]) -> list[tuple[str, Cell]]:
    """Most requests first; ties in order of first appearance, as a dict filled in log order."""
    return sorted(table.items(), key=lambda item: (-item[1].count, item[1].first))


def _from(keys: list[str], first: str | None) -> list[str]:
    """The sorted `keys` from `first` on (all when None)."""
    return keys if first is None else keys[bisect.bisect_left(keys, first):]


def _discard(keys: list[str], key: str) -> None:
    index = bisect.bisect_left(keys, key)
    if index < len(keys) and keys[index] == key:
        del keys[index]


# ── the listing index ───────────────────────────────────────────────────────


class _Listing:
    """Logs sorted by (timestamp, id), oldest first: all, and per filter value."""

    def __init__(self, logs: Iterable[Resource]) -> None:
        self.all: list[Resource] = sorted(logs, key=_order)
        self.lists: dict[tuple, list[Resource]] = {}
        for log in self.all:
            for key in self._keys(log):
                found = self.lists.get(key)
                if found is None:
                    self.lists[key] = [log]
                else:
                    found.append(log)

    @staticmethod
    def _keys(log: Resource) -> tuple[tuple, ...]:
        project, status = log["project_id"], log.get("status")
        return ("p", project), ("u", log.get("end_user_id")), ("s", status), ("ps", project, status)

    def add(self, log: Resource) -> None:
        for target in [self.all] + [self.lists.setdefault(key, []) for key in self._keys(log)]:
            if not target or _order(target[-1]) < _order(log):
                target.append(log)
            else:
                bisect.insort(target, log, key=_order)

    def remove(self, logs: list[Resource]) -> None:
        if len(logs) > 16:  # many (a project delete): one filtering pass per list they leave
            gone = {id(log) for log in logs}
            keys = {key for log in logs for key in self._keys(log)}
            self.all = [log for log in self.all if id(log) not in gone]
            for key in keys:
                kept = [log for log in self.lists[key] if id(log) not in gone]
                if kept:
                    self.lists[key] = kept
                else:
                    del self.lists[key]
            return
        for log in logs:
            for key in [None, *self._keys(log)]:
                target = self.all if key is None else self.lists[key]
                index = bisect.bisect_left(target, _order(log), key=_order)
                while target[index] is not log:
                    index += 1
                del target[index]
                if key is not None and not target:
                    del self.lists[key]

    def page(self, project: str | None, user: str | None, status: str | None, offset: int, limit: int) -> list[Resource]:
        """Newest first, filters combined, `offset`/`limit` applied (`GET /logs`)."""
        if user is not None:
            source, check = self.lists.get(("u", user), []), (project, status)
        elif project is not None and status is not None:
            source, check = self.lists.get(("ps", project, status), []), (None, None)
        elif project is not None:
            source, check = self.lists.get(("p", project), []), (None, None)
        elif status is not None:
            source, check = self.lists.get(("s", status), []), (None, None)
        else:
            source, check = self.all, (None, None)
        if offset < 0 or limit < 0:  # never from the API (validated); sliced as a list would be
            want_project, want_status = check
            every = [log for log in reversed(source) if (want_project is None or log["project_id"] == want_project)
                     and (want_status is None or log.get("status") == want_status)]
            return every[offset:offset + limit]
        if limit == 0:
            return []
        if check == (None, None):
            stop = max(0, len(source) - offset)
            return source[max(0, stop - limit):stop][::-1]
        want_project, want_status = check
        out: list[Resource] = []
        skipped = 0
        for log in reversed(source):
            if want_project is not None and log["project_id"] != want_project:
                continue
            if want_status is not None and log.get("status") != want_status:
                continue
            if skipped < offset:
                skipped += 1
                continue
            out.append(log)
            if len(out) == limit:
                break
        return out


# ── the table ───────────────────────────────────────────────────────────────


class LogTable(Table):
    """`org.logs`: a dict of log id -> log whose indexes follow every change (see the module doc)."""

    _buckets: _Buckets | None = None
    _listing: _Listing | None = None

    def _added(self, log: Resource) -> None:
        if self._buckets is not None:
            self._buckets.add((log,))
        if self._listing is not None:
            self._listing.add(log)

    def _removed(self, logs: list[Resource], replaced: bool) -> None:
        if not dict.__len__(self) and not replaced:  # cleared: rebuild on next use
            self._buckets = self._listing = None
            return
        if self._buckets is not None:
            self._buckets.remove(logs, replaced)
        if self._listing is not None:
            self._listing.remove(logs)

    def _reordered(self) -> None:
        self._buckets = self._listing = None  # sequence numbers follow insertion order: rebuild on next use

    def update(self, *args: Any, **kwargs: Any) -> None:
        if self._buckets is None and self._listing is None and active() is None:  # nothing to keep up to date
            dict.update(self, *args, **kwargs)
            return
        super().update(*args, **kwargs)

    def store(self, logs: list[Resource]) -> None:
        """Store logs, indexing each (what `self[log["id"]] = log` does for every one, in one go)."""
        ids = [log["id"] for log in logs]
        if len(set(ids)) < len(ids) or any(map(self.__contains__, ids)) or active() is not None:  # one by one
            for log in logs:
                self[log["id"]] = log
            return
        dict.update(self, zip(ids, logs))
        if self._buckets is not None:
            self._buckets.add(logs)
        if self._listing is not None:
            for log in logs:
                self._listing.add(log)

    # the indexes, built on first use

    @property
    def buckets(self) -> _Buckets:
        if self._buckets is None:
            with gc_paused():
                self._buckets = _Buckets(self.values())
        return self._buckets

    @property
    def listing(self) -> _Listing:
        if self._listing is None:
            with gc_paused():
                self._listing = _Listing(self.values())
        return self._listing

    # reads

    def newest_first(self, project_id: str | None = None, end_user_id: str | None = None, status: str | None = None,
                     offset: int = 0, limit: int | None = None) -> list[Resource]:
        """`GET /logs`: newest first by (timestamp, id), filters combined, then offset and limit."""
        return self.listing.page(project_id, end_user_id, status, offset, len(self) if limit is None else limit)

    def report(self, project_id: str | None, start: datetime | None, end: datetime | None,
               bucket: str = "day") -> dict[str, Any]:
        """`analytics.report` of the project's (or every project's) logs."""
        return self.buckets.report(project_id, start, end, bucket)

    def between(self, project_id: str | None, start: datetime | None, end: datetime | None) -> list[Resource]:
        """The project's (or every project's) logs with start <= timestamp <= end, in insertion order."""
        return self.buckets.logs_in(project_id, start, end)

    def window_counts(self, rule: SignalRule, key: str, wanted: set[str] | None = None,
                      since: datetime | None = None) -> WindowCounts:
        """`analytics.window_counts` of the logs whose `key` ("project_id" or "provider") is in
        `wanted` (all when None), for the windows from the one holding `since` on (all when None);
        hourly rules are answered from the buckets."""
        if rule.window_seconds == 3600:
            return self.buckets.hourly_counts(key, wanted, since)
        logs = self.values() if wanted is None else (log for log in self.values() if log.get(key) in wanted)
        counts = window_counts(logs, rule, key)
        if since is not None:
            first = rule.window_of(since)
            counts = {cell: found for cell, found in counts.items() if cell[1] >= first}
        return counts

    def health_before(self, rule: SignalRule, provider: str, since: datetime) -> str:
        """The provider's health after the windows before the one holding `since`
        (`analytics.provider_status` of that traffic)."""
        if rule.window_seconds == 3600:
            found = self.buckets.last_hour(provider, since, lambda requests: requests >= rule.min_requests)
            return "healthy" if found is None or not rule.exceeded(*found) else "unhealthy"
        first = rule.window_of(since)
        earlier = {cell: found for cell, found in self.window_counts(rule, "provider", {provider}).items()
                   if cell[1] < first}
        return status_in(earlier, provider, rule)

    def cost_since(self, scope_type: str, scope_id: str | None, since: datetime, after: bool,
                   until: datetime) -> Decimal:
        """Exact cost of the scope's logs with since <= timestamp <= until (since < timestamp when `after`)."""
        buckets = self.buckets
        if scope_type == "org":
            return buckets.spend(None, since, after, until)
        if scope_type == "project":
            return buckets.spend(scope_id, since, after, until) if scope_id in buckets.projects else Decimal(0)
        return buckets.user_spend(scope_id, since, after, until)  # `budgets.in_scope`: any other scope is per user
