"""The run's keys never appear in what it writes: terminal output, JUnit, the JSON verdict.

A target may echo the key it was sent (in an error message, a page, a redirect), and a failure quotes what the target
answered; everything the suite writes goes through `SECRETS.mask`, which shows a key as its prefix and `***`
(`mlx_mgmt_***`). The command also writes its whole output through `MaskedStream`.
"""

from __future__ import annotations

import re
import threading
from typing import Any, TextIO

MIN_SECRET = 8  # shorter values are not masked: they would mangle ordinary text, and no real key is that short
_PREFIX = re.compile(r"^[A-Za-z]+_(?:[A-Za-z]+_)?")  # `mlx_mgmt_`, `sk_`


def masked(secret: str) -> str:
    """How a key is shown: its type prefix (`mlx_mgmt_`) or its first 4 characters, then `***`."""
    prefix = _PREFIX.match(secret)
    return (prefix.group(0) if prefix and len(prefix.group(0)) < len(secret) // 2 else secret[:4]) + "***"


class Secrets:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()

    def add(self, *values: str | None) -> None:
        with self._lock:
            self._values.update(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET)

    def mask(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            if value in text:
                text = text.replace(value, masked(value))
        return text

    def found_in(self, text: str) -> bool:
        return any(value in text for value in self._values)


class MaskedStream:
    """A text stream writing through `SECRETS.mask` (everything else is the wrapped stream's)."""

    def __init__(self, stream: TextIO, secrets: "Secrets"):
        self._stream = stream
        self._secrets = secrets

    def write(self, text: str) -> int:
        self._stream.write(self._secrets.mask(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


# One per process: the plugin adds the run's keys, everything that writes masks with it.
SECRETS = Secrets()
