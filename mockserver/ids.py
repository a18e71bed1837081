"""Ids from a seedable factory, so a seed reproduces a world; secrets from `secrets`.

Ids are opaque labels, not credentials: a seed may fix them. Secrets (keys, signing secrets) come
from the operating system's CSPRNG, whatever the seed, so nobody can derive a live key from public
inputs. Only the seeded world's generator asks for `seeded_secrets` (its fixture keys are data that
a seed must reproduce byte for byte; none of them is a live credential).
"""

from __future__ import annotations

import hashlib
import random
import secrets
import threading

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class IdFactory:
    def __init__(self, seed: int | None = None, seeded_secrets: bool = False):
        self._random = random.Random(seed)  # seed None: seeded from the OS, distinct per process
        self._seeded_secrets = seeded_secrets
        self._lock = threading.Lock()

    def _chars(self, n: int) -> str:
        """`n` of `random.choice(_ALPHABET)`, inlined: the same draws (6 random bits, again while
        >= 36, as `Random._randbelow` does), at a third of the cost. A seeded world takes
        100k ids, so this is a measurable part of booting one."""
        bits = self._random.getrandbits
        chars: list[str] = []
        with self._lock:
            while len(chars) < n:
                index = bits(6)
                if index < 36:
                    chars.append(_ALPHABET[index])
        return "".join(chars)

    def new(self, prefix: str) -> str:
        """An opaque id such as `proj_4k2x9...`."""
        return f"{prefix}_{self._chars(16)}"

    def secret(self, prefix: str, length: int = 40) -> str:
        if self._seeded_secrets:
            return f"{prefix}{self._chars(length)}"
        return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
