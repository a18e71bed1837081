"""`Table`: a dict of id -> record whose subclasses keep indexes up to date through every change,
and `Journal`: the undo log of one transaction over tables and the records in them.

A plain dict changes through a dozen methods; a table funnels all of them into two hooks,
`_added(record)` and `_removed(records, replaced)`, so an index cannot miss a write that went
through `update()`, `setdefault()`, `pop()` or a fixtures loader assigning items directly.

While a journal is open on this thread (`Journal.open`), every table records how to undo what
changes its membership (the key added, the record replaced or removed, the order before the first
removal), and `touch(obj)` keeps a copy of a record (or list) before the workflow changes it in
place. `rollback()` puts every touched object and every table back as it was, through the same
hooks, so indexes follow; `commit()` forgets the undo information and runs what was deferred to
it (`after_commit`). Tables on other threads (background workers) never journal. With no journal
open, a table pays one thread-local read per write and nothing per read.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any, Callable, Iterable

_state = threading.local()
_MISSING = object()
_FRONT = object()  # an undo entry's key: records dropped from the front of a table (`drop_oldest`)


def active() -> "Journal | None":
    """The journal open on this thread, if any."""
    return getattr(_state, "journal", None)


def clone(value: Any) -> Any:
    """A copy of a stored record: its dicts and lists copied all the way down, the rest shared
    (strings, numbers and None are immutable)."""
    kind = type(value)
    if kind is dict:
        return {k: clone(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if kind is list:
        return [clone(v) if type(v) in _CONTAINERS else v for v in value]
    return value


_CONTAINERS = (dict, list)


class Journal:
    """What one transaction changed, and how to undo it."""

    def __init__(self) -> None:
        self._touched: dict[int, tuple[Any, Any]] = {}  # id(obj) -> (obj, copy before the first change)
        self._undo: list[tuple["Table", Any, Any]] = []  # (table, key, what the key held before)
        self._orders: dict[int, tuple["Table", list[Any]]] = {}  # id(table) -> its keys before the first removal
        self._deferred: list[Callable[[], None]] = []

    def open(self) -> "Journal":
        if active() is not None:
            raise RuntimeError("a transaction is already open on this thread")
        _state.journal = self
        return self

    def touch(self, obj: Any) -> Any:
        """Keep a copy of `obj` (a record or list about to change in place) to restore on rollback."""
        if id(obj) not in self._touched:
            self._touched[id(obj)] = (obj, clone(obj))
        return obj

    def after_commit(self, action: Callable[[], None]) -> None:
        self._deferred.append(action)

    def _changed(self, table: "Table", key: Any, before: Any) -> None:
        self._undo.append((table, key, before))

    def _dropped_front(self, table: "Table", records: list[tuple[Any, Any]]) -> None:
        self._undo.append((table, _FRONT, records))

    def _removing(self, table: "Table") -> None:
        if id(table) not in self._orders:
            self._orders[id(table)] = (table, list(dict.keys(table)))

    def commit(self) -> None:
        _state.journal = None
        deferred, self._deferred = self._deferred, []
        self._touched.clear()
        self._undo.clear()
        self._orders.clear()
        for action in deferred:
            action()

    def rollback(self) -> None:
        _state.journal = None
        self._deferred.clear()
        for obj, before in self._touched.values():
            if type(obj) is list:
                obj[:] = before
            else:
                obj.clear()
                obj.update(before)
        for table, key, before in reversed(self._undo):
            if key is _FRONT:
                rest = list(dict.items(table))
                dict.clear(table)
                dict.update(table, before)
                dict.update(table, rest)
                for _, record in before:
                    table._added(record)
                table._reordered()
            elif before is _MISSING:
                if dict.__contains__(table, key):
                    del table[key]
            elif dict.get(table, key, _MISSING) is not before:
                table[key] = before
        for table, order in self._orders.values():
            known = set(order)  # keys not in it were dropped from the front before the first removal
            records = [(key, record) for key, record in dict.items(table) if key not in known]
            records += [(key, dict.__getitem__(table, key)) for key in order if dict.__contains__(table, key)]
            dict.clear(table)
            dict.update(table, records)
            table._reordered()
        self._touched.clear()
        self._undo.clear()
        self._orders.clear()


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the open transaction commits (never if it rolls back); now when none is open."""
    journal = active()
    if journal is None:
        action()
    else:
        journal.after_commit(action)


def touch(obj: Any) -> Any:
    """`Journal.touch` on the open transaction, if any; returns `obj`."""
    journal = active()
    if journal is not None:
        journal.touch(obj)
    return obj


class Table(dict):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    def __reduce__(self) -> tuple:
        """Copies and pickles carry the records; indexes are rebuilt from them."""
        return type(self), (dict(self),)

    # the hooks

    def _added(self, record: Any) -> None:
        """`record` was stored."""

    def _removed(self, records: list[Any], replaced: bool) -> None:
        """`records` left the table (`replaced`: one record overwritten under the same key)."""

    def _reordered(self) -> None:
        """A rollback put the records back in their former order (same records, same keys)."""

    # every way a dict can change

    def __setitem__(self, key: str, record: Any) -> None:
        old = dict.get(self, key, _MISSING)
        journal = active()
        if journal is not None:
            journal._changed(self, key, old)
        if old is not _MISSING and old is not None:
            self._removed([old], replaced=True)
        dict.__setitem__(self, key, record)
        self._added(record)

    def __delitem__(self, key: str) -> None:
        record = dict.__getitem__(self, key)
        journal = active()
        if journal is not None:
            journal._removing(self)
            journal._changed(self, key, record)
        dict.__delitem__(self, key)
        self._removed([record], replaced=False)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            record = dict.__getitem__(self, key)
            del self[key]
            return record
        if default:
            return default[0]
        raise KeyError(key)

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __ior__(self, other: Any) -> "Table":
        self.update(other)
        return self

    def clear(self) -> None:
        records = list(self.values())
        journal = active()
        if journal is not None:
            journal._removing(self)
            for key, record in dict.items(self):
                journal._changed(self, key, record)
        dict.clear(self)
        self._removed(records, replaced=False)

    def drop_oldest(self, count: int) -> None:
        """Delete the `count` records stored first (retention: oldest first); cheap inside a transaction."""
        gone = [(key, dict.__getitem__(self, key)) for key in itertools.islice(dict.__iter__(self), count)]
        for key, _ in gone:
            dict.__delitem__(self, key)
        journal = active()
        if journal is not None and gone:
            journal._dropped_front(self, gone)
        self._removed([record for _, record in gone], replaced=False)

    def keep_latest(self, limit: int) -> None:
        """Retention: at most `limit` records, the oldest dropped first."""
        if dict.__len__(self) > limit:
            self.drop_oldest(dict.__len__(self) - limit)

    def remove_many(self, keys: Iterable[str]) -> None:
        """Delete many records at once: the indexes are adjusted once, not once per record."""
        keys = list(keys)
        journal = active()
        if journal is not None and keys:
            journal._removing(self)
            for key in keys:
                journal._changed(self, key, dict.__getitem__(self, key))
        gone = [dict.pop(self, key) for key in keys]
        self._removed(gone, replaced=False)
