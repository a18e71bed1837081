"""`modelux_spec`: the contract of the Modelux Management API, shared by the mock and the suite.

It owns the pristine document (`openapi.yaml`, byte-identical to upstream), the errata that make
it say what the API does, the vocabulary (routing policies and their config shapes, webhook event
types and their payload schemas), the API's timestamp format, and the effective spec built from
them. It depends on neither the mock nor the contract suite; both depend on it.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from .document import BASE_PATH, HTTP_METHODS, Spec, operations, operation_ids, pristine_spec, resolve, spec_path
from .errata import ERRATA, Erratum, apply_errata, errata_markdown
from .timestamps import format_timestamp, parse_timestamp, read_timestamp
from .vocabulary import EVENT_ENVELOPE, EVENT_TYPES, EVENTS, POLICIES, POLICY_CONFIG_SCHEMAS, EventType, event_schema


@functools.lru_cache(maxsize=1)
def _effective() -> Spec:
    return apply_errata(pristine_spec())


def effective_spec() -> Spec:
    """A fresh copy of the pristine document with every erratum applied."""
    return copy.deepcopy(_effective())


__all__ = [
    "BASE_PATH", "EVENT_ENVELOPE", "EVENTS", "EVENT_TYPES", "EventType", "event_schema", "ERRATA", "Erratum", "HTTP_METHODS", "POLICIES", "POLICY_CONFIG_SCHEMAS", "Spec",
    "apply_errata", "effective_spec", "errata_markdown", "format_timestamp", "operation_ids", "operations",
    "parse_timestamp", "pristine_spec", "read_timestamp", "resolve", "spec_path",
]
