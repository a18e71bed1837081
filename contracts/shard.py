"""Sharding a run: `--shard K/N` keeps the test items whose stable hash falls in shard K of N.

An item is hashed by what it judges (`conformance:POST /projects`, `rule:MX-VERSION-BUMP`, `stateful:…`), never by
the order of collection, so N runners with the same options together run each item exactly once.
"""

from __future__ import annotations

import hashlib


def parse(text: str) -> tuple[int, int]:
    """(K, N) of `K/N`; ValueError saying why when it is not a shard."""
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise ValueError(f"--shard takes K/N (e.g. 1/3), not {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def shard_of(key: str, count: int) -> int:
    """The shard (1…count) an item of this key belongs to."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % count + 1


def keeps(shard: tuple[int, int], kind: str, key: str) -> bool:
    """Whether shard (K, N) runs the item of this kind judging this key (`conformance`, `POST /projects`)."""
    k, n = shard
    return shard_of(f"{kind}:{key}", n) == k
