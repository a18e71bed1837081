"""Analytics and decision summaries, computed from one list of logs so every number agrees."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

from ..clock import UTC, iso, parse_iso

Resource = dict[str, Any]
MICRO = Decimal("0.000001")


def log_cost(log: Resource) -> Decimal:
    """A log's cost at micro-dollar precision: every breakdown adds the same rounded amounts,
    so per-provider, per-model and per-bucket sums equal the total exactly."""
    return Decimal(log["cost_usd"]).quantize(MICRO) if log.get("cost_usd") else Decimal(0)


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
        self.cost += log_cost(log)
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
    return report_document(total, sorted(providers.items(), key=lambda item: -item[1].count),
                           sorted(models.items(), key=lambda item: -item[1].count),
                           [(iso(moment), t) for moment, t in sorted(series.items())], start, end, bucket)


def report_document(total: Any, providers: list[tuple[str, Any]], models: list[tuple[str, Any]],
                    series: list[tuple[str | None, Any]], start: datetime | None, end: datetime | None,
                    bucket: str) -> dict[str, Any]:
    """The AnalyticsReport from totals (anything with `count`, `errors` and `fields()`): providers
    and models most requests first, the series as (bucket start, totals) in time order."""
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
        "by_provider": [{"provider": name, **t.fields()} for name, t in providers],
        "by_model": [{"model": name, **t.fields()} for name, t in models],
        "time_series": [{"bucket": moment, **t.fields(), "error_count": t.errors} for moment, t in series],
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


# ── traffic signals: error-rate anomalies and provider health ───────────────
#
# Both look at fixed UTC windows (hourly by default) of logged traffic, so the same logs always
# give the same signals, whatever order they arrived in. Callers compare the signals before and
# after new logs are stored and emit only the new ones.


@dataclass(frozen=True)
class SignalRule:
    """A window is anomalous (a provider unhealthy) when it holds at least `min_requests`
    requests and their error rate is at least `error_rate`."""

    window_seconds: int = 3600
    min_requests: int = 10
    error_rate: float = 0.25

    def window_of(self, moment: datetime) -> datetime:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        offset = int((moment.astimezone(UTC) - epoch).total_seconds()) // self.window_seconds
        return epoch + timedelta(seconds=offset * self.window_seconds)

    def exceeded(self, count: int, errors: int) -> bool:
        return count >= self.min_requests and errors / count >= self.error_rate


ANOMALY_RULE = SignalRule(window_seconds=3600, min_requests=10, error_rate=0.25)
HEALTH_RULE = SignalRule(window_seconds=3600, min_requests=5, error_rate=0.5)


WindowCounts = dict[tuple[str, datetime], list[int]]  # (project or provider, window start) -> [requests, errors]


def window_counts(logs: Iterable[Resource], rule: SignalRule, key: str) -> WindowCounts:
    """Requests and errors per (`key` value, window); logs without a `key` value are not counted."""
    counts: WindowCounts = defaultdict(lambda: [0, 0])
    for log in logs:
        group = log.get(key)
        if not group:
            continue
        cell = counts[(group, rule.window_of(parse_iso(log["timestamp"])))]
        cell[0] += 1
        cell[1] += log.get("status") == "error"
    return counts


def _signal(group_key: str, group: str, start: datetime, rule: SignalRule, count: int, errors: int) -> dict[str, Any]:
    return {
        group_key: group,
        "window_start": iso(start),
        "window_end": iso(start + timedelta(seconds=rule.window_seconds)),
        "request_count": count,
        "error_count": errors,
        "error_rate": round(errors / count, 6) if count else 0.0,
        "threshold": rule.error_rate,
        "min_requests": rule.min_requests,
    }


def error_rate_anomalies(logs: Iterable[Resource], rule: SignalRule = ANOMALY_RULE) -> list[dict[str, Any]]:
    """One signal per (project, window) whose error rate reached the threshold, oldest first."""
    return anomalies_in(window_counts(logs, rule, "project_id"), rule)


def anomalies_in(counts: WindowCounts, rule: SignalRule) -> list[dict[str, Any]]:
    """`error_rate_anomalies` from per-(project, window) counts."""
    found = [
        _signal("project_id", project, start, rule, count, errors)
        for (project, start), (count, errors) in counts.items()
        if rule.exceeded(count, errors)
    ]
    return sorted(found, key=lambda s: (s["window_start"], s["project_id"]))


def provider_health_transitions(logs: Iterable[Resource], rule: SignalRule = HEALTH_RULE) -> list[dict[str, Any]]:
    """Where each provider's health flips, oldest first.

    A provider starts healthy. Each window with at least `min_requests` of its requests sets its
    health: unhealthy when the error rate reaches the threshold, healthy otherwise; quieter
    windows change nothing. A transition is a window whose health differs from the one before.
    """
    return transitions_in(window_counts(logs, rule, "provider"), rule)


def transitions_in(counts: WindowCounts, rule: SignalRule, before: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`provider_health_transitions` from per-(provider, window) counts; `before`: each provider's
    health before the first of these windows, when they are not all its traffic ("healthy" otherwise)."""
    per_provider: dict[str, list[tuple[datetime, int, int]]] = defaultdict(list)
    for (provider, start), (count, errors) in counts.items():
        if count >= rule.min_requests:
            per_provider[provider].append((start, count, errors))
    found = []
    for provider, windows in per_provider.items():
        status = (before or {}).get(provider, "healthy")
        for start, count, errors in sorted(windows):
            now = "unhealthy" if rule.exceeded(count, errors) else "healthy"
            if now != status:
                found.append({**_signal("provider", provider, start, rule, count, errors),
                              "previous_status": status, "status": now})
                status = now
    return sorted(found, key=lambda s: (s["window_start"], s["provider"]))


def provider_status(logs: Iterable[Resource], provider: str, rule: SignalRule = HEALTH_RULE) -> str:
    """A provider's health after all the given traffic ("healthy" when nothing says otherwise)."""
    return status_in(window_counts(logs, rule, "provider"), provider, rule)


def status_in(counts: WindowCounts, provider: str, rule: SignalRule = HEALTH_RULE) -> str:
    """`provider_status` from per-(provider, window) counts."""
    flips = [t for t in transitions_in(counts, rule) if t["provider"] == provider]
    return flips[-1]["status"] if flips else "healthy"
