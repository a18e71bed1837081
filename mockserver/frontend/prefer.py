"""What a request asks of the mock: the `Prefer` header (RFC 7240), as Prism reads it.

Prism (`getHttpConfigFromRequest`) reads `code`, `example`, `dynamic` and `seed` from the
`Prefer` header, or, only when the request has no `Prefer` header at all, from the query
parameters `__code`, `__example`, `__dynamic` and `__seed`. `code` is three digits, `dynamic`
is `true` or `false`. This mock adds `delay=MS` (an answer that takes that long) and
`fault=NAME` (a named fault). Preferences it does not know are ignored, as RFC 7240 says
(`return=minimal`, `respond-async`); a known one with a bad value is a 400 naming it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from ..errors import Invalid

MAX_DELAY_MS = 60_000
QUERY_NAMES = {"code": "__code", "example": "__example", "dynamic": "__dynamic", "seed": "__seed"}
_CODE = re.compile(r"\d{3}")
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")


@dataclass(frozen=True)
class Preferences:
    code: int | None = None
    example: str | None = None
    dynamic: bool | None = None
    seed: str | None = None
    delay_ms: int | None = None
    fault: str | None = None
    source: str = "Prefer"  # where they came from: the header or the __ query parameters

    @property
    def forces_answer(self) -> bool:
        """Whether the answer is the mock's choice rather than the world's (Prism's mocking directives)."""
        return self.code is not None or self.example is not None or bool(self.dynamic)

    def applied(self) -> str:
        """The `Preference-Applied` value (RFC 7240) for what this mock honoured."""
        parts = []
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.example is not None:
            parts.append(f"example={self.example}")
        if self.dynamic is not None:
            parts.append(f"dynamic={'true' if self.dynamic else 'false'}")
        if self.delay_ms is not None:
            parts.append(f"delay={self.delay_ms}")
        if self.fault is not None:
            parts.append(f"fault={self.fault}")
        return ", ".join(parts)


NONE = Preferences()


def split_prefer(header: str) -> dict[str, str]:
    """`code=404, example="a b"; dynamic=true` → {"code": "404", "example": "a b", "dynamic": "true"}.

    Preferences are separated by commas; a preference's own parameters follow semicolons. Like the
    parser Prism uses, both separators are read alike (`code=404; example=x` names both). A name is
    case-insensitive; the first occurrence of a name wins (RFC 7240 §2).
    """
    found: dict[str, str] = {}
    for part in re.split(r"[,;]", header):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"')
        if name and name not in found:
            found[name] = value if sep else ""
    return found


def read_preferences(headers: Mapping[str, str], query: Mapping[str, str]) -> Preferences:
    """The request's preferences; a 400 (`invalid_preference`) naming a bad one."""
    prefer = headers.get("Prefer")
    if prefer is not None:
        raw = split_prefer(prefer)
        source = "Prefer"
        label = {name: f"Prefer: {name}" for name in ("code", "example", "dynamic", "seed", "delay", "fault")}
    else:
        raw = {name: query[param] for name, param in QUERY_NAMES.items() if param in query}
        source = "query"
        label = {name: f"query parameter {param}" for name, param in QUERY_NAMES.items()}
    if not raw:
        return NONE
    code = example = dynamic = seed = delay = fault = None
    if "code" in raw:
        if not _CODE.fullmatch(raw["code"]):
            raise Invalid(f"{label['code']}={raw['code']!r} is not an HTTP status code (three digits, e.g. code=404)",
                          code="invalid_preference")
        code = int(raw["code"])
    if "example" in raw:
        if not raw["example"]:
            raise Invalid(f"{label['example']} needs the name of an example", code="invalid_preference")
        example = raw["example"]
    if "dynamic" in raw:
        if raw["dynamic"] not in ("true", "false"):
            raise Invalid(f"{label['dynamic']}={raw['dynamic']!r} must be true or false", code="invalid_preference")
        dynamic = raw["dynamic"] == "true"
    if "seed" in raw:
        seed = raw["seed"]
    if "delay" in raw:
        text = raw["delay"]
        if not text.isascii() or not text.isdigit():
            raise Invalid(f"Prefer: delay={text!r} must be a whole number of milliseconds (0..{MAX_DELAY_MS})",
                          code="invalid_preference")
        delay = int(text)
        if delay > MAX_DELAY_MS:
            raise Invalid(f"Prefer: delay={delay} exceeds the maximum of {MAX_DELAY_MS} ms", code="invalid_preference")
    if "fault" in raw:
        if not _TOKEN.fullmatch(raw["fault"] or " "):
            raise Invalid("Prefer: fault needs the name of a fault (e.g. fault=proxy_unreachable)",
                          code="invalid_preference")
        fault = raw["fault"]
    return Preferences(code=code, example=example, dynamic=dynamic, seed=seed, delay_ms=delay, fault=fault,
                       source=source)
