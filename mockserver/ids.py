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
# `random.choice(_ALPHABET)` draws one 32-bit word and keeps its top 6 bits, again while they are >= 36. In the
# little-endian bytes of `getrandbits(32 * n)` (n words, the first drawn lowest) the top byte of word i is byte
# 4i + 3, and its top 6 bits are below 36 exactly when the byte is below 144: one translate does what n calls would.
_TOP_BYTE = bytes.maketrans(bytes(range(144)), bytes(ord(_ALPHABET[b >> 2]) for b in range(144)))
_REJECTED = bytes(range(144, 256))
_WORDS = 512  # drawn at a time: about 288 characters, 18 ids


class IdFactory:
    def __init__(self, seed: int | None = None, seeded_secrets: bool = False):
        self._random = random.Random(seed)  # seed None: seeded from the OS, distinct per process
        self._seeded_secrets = seeded_secrets
        self._lock = threading.Lock()
        self._drawn = ""  # characters drawn but not handed out yet

    def _chars(self, n: int) -> str:
        """The next `n` characters of the stream `random.choice(_ALPHABET)` gives on this generator: the same
        characters in the same order, drawn a few hundred at a time. A seeded world takes 100k ids, and a create
        two, so this is a measurable part of both."""
        with self._lock:
            drawn, have = [self._drawn], len(self._drawn)
            while have < n:
                words = self._random.getrandbits(32 * _WORDS).to_bytes(4 * _WORDS, "little")
                drawn.append(words[3::4].translate(_TOP_BYTE, _REJECTED).decode("ascii"))
                have += len(drawn[-1])
            text = "".join(drawn)
            chars, self._drawn = text[:n], text[n:]
        return chars

    def new(self, prefix: str) -> str:
        """An opaque id such as `proj_4k2x9...`."""
        return f"{prefix}_{self._chars(16)}"

    def new_many(self, prefix: str, count: int) -> list[str]:
        """The next `count` ids `new(prefix)` would give, drawn at once."""
        chars = self._chars(16 * count)
        return [f"{prefix}_{chars[i:i + 16]}" for i in range(0, 16 * count, 16)]

    def secret(self, prefix: str, length: int = 40) -> str:
        if self._seeded_secrets:
            return f"{prefix}{self._chars(length)}"
        return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
