"""`Table`: a dict of id -> record whose subclasses keep indexes up to date through every change.

A plain dict changes through a dozen methods; a table funnels all of them into two hooks,
`_added(record)` and `_removed(records, replaced)`, so an index cannot miss a write that went
through `update()`, `setdefault()`, `pop()` or a fixtures loader assigning items directly.
"""

from __future__ import annotations

from typing import Any, Iterable


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

    # every way a dict can change

    def __setitem__(self, key: str, record: Any) -> None:
        old = dict.get(self, key)
        if old is not None:
            self._removed([old], replaced=True)
        dict.__setitem__(self, key, record)
        self._added(record)

    def __delitem__(self, key: str) -> None:
        record = dict.__getitem__(self, key)
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
        dict.clear(self)
        self._removed(records, replaced=False)

    def remove_many(self, keys: Iterable[str]) -> None:
        """Delete many records at once: the indexes are adjusted once, not once per record."""
        gone = [dict.pop(self, key) for key in keys]
        self._removed(gone, replaced=False)
