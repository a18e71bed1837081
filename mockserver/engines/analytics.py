"""Analytics and decision summaries, computed from one list of logs so every number agrees."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from ..clock import UTC, iso, parse_iso

Resource = dict[str, Any]
MICRO = Decimal("0.000001")


def in_window(log: Resource, start: datetime | None, end: datetime | None) -> bool:
    moment = parse_iso(log["timestamp"])
    return (start is None or moment >= start) and (end is None or moment <= end)


class _Totals:
    __slots__ = ("count", "tokens", "cost", "latency_sum", "latency_n", "errors")

    def __init__(self) -> None:
        self.count = self.tokens = self.latency_n = self.errors = 0
        self.cost = Decimal(0)
        self.latency_sum = 0.0

    def add(self, log: Resource) -> None:
        self.count += 1
        self.tokens += log.get("total_tokens") or 0
        self.cost += Decimal(log["cost_usd"]) if log.get("cost_usd") else Decimal(0)
        if log.get("latency_ms") is not None:
            self.latency_sum += log["latency_ms"]
            self.latency_n += 1
        if log.get("status") == "error":
            self.errors += 1

    def fields(self) -> dict[str, Any]:
        return {
            "request_count": self.count,
            "total_tokens": self.tokens,
            "total_cost_usd": str(self.cost.quantize(MICRO)),
            "avg_latency_ms": round(self.latency_sum / self.latency_n, 2) if self.latency_n else 0.0,
        }


def bucket_start(moment: datetime, bucket: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def report(logs: Iterable[Resource], start: datetime | None = None, end: datetime | None = None,
           bucket: str = "day") -> dict[str, Any]:
    """The AnalyticsReport: totals, per provider, per model and a time series with no empty buckets."""
    total = _Totals()
    providers: dict[str, _Totals] = defaultdict(_Totals)
    models: dict[str, _Totals] = defaultdict(_Totals)
    series: dict[datetime, _Totals] = defaultdict(_Totals)
    for log in logs:
        if not in_window(log, start, end):
            continue
        total.add(log)
        providers[log.get("provider") or "unknown"].add(log)
        models[log.get("model_used") or "unknown"].add(log)
        series[bucket_start(parse_iso(log["timestamp"]), bucket)].add(log)
    head = total.fields()
    return {
        "total_requests": head["request_count"],
        "total_tokens": head["total_tokens"],
        "total_cost_usd": head["total_cost_usd"],
        "avg_latency_ms": head["avg_latency_ms"],
        "error_rate": round(total.errors / total.count, 6) if total.count else 0.0,
        "error_count": total.errors,
        "bucket": bucket,
        "start_time": iso(start),
        "end_time": iso(end),
        "by_provider": [{"provider": name, **t.fields()} for name, t in
                        sorted(providers.items(), key=lambda item: -item[1].count)],
        "by_model": [{"model": name, **t.fields()} for name, t in
                     sorted(models.items(), key=lambda item: -item[1].count)],
        "time_series": [{"bucket": iso(moment), **t.fields(), "error_count": t.errors}
                        for moment, t in sorted(series.items())],
    }


def decisions_summary(logs: Iterable[Resource], start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """Selected-model distribution, top skip reasons and per-policy counts from the logs' traces."""
    models: Counter[str] = Counter()
    policies: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    total = 0
    for log in logs:
        if not in_window(log, start, end):
            continue
        total += 1
        trace = log.get("_trace") or {}
        models[trace.get("selected_model") or log.get("model_used") or "unknown"] += 1
        policies[trace.get("policy") or "direct"] += 1
        for step in trace.get("steps", []):
            if step.get("result") == "skipped":
                skips[step.get("reason") or "unspecified"] += 1
    return {
        "from": iso(start),
        "to": iso(end),
        "total_requests": total,
        "model_distribution": [{"model": m, "count": c, "share": round(c / total, 4)} for m, c in models.most_common()],
        "top_skip_reasons": [{"reason": r, "count": c} for r, c in skips.most_common(10)],
        "policy_counts": [{"policy": p, "count": c} for p, c in policies.most_common()],
    }
