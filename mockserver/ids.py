"""Seeded factories for ids and secrets, so a seed reproduces a world exactly."""

from __future__ import annotations

import hashlib
import random
import threading

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class IdFactory:
    def __init__(self, seed: int | None = None):
        self._random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._lock = threading.Lock()

    def _chars(self, n: int) -> str:
        with self._lock:
            return "".join(self._random.choice(_ALPHABET) for _ in range(n))

    def new(self, prefix: str) -> str:
        """An opaque id such as `proj_4k2x9...`."""
        return f"{prefix}_{self._chars(16)}"

    def secret(self, prefix: str, length: int = 40) -> str:
        return f"{prefix}{self._chars(length)}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
