"""What several areas' rules share: policies to switch between, readers of histories, audit entries and logs,
windows of traffic, simulations, webhook channels. No rule is registered here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from modelux_spec import format_timestamp, read_timestamp
from .context import RuleContext, at

# Policies used by the scenarios: distinct, valid per the docs.
POLICY_A = ("single", {"model": "gpt-4o-mini"})
POLICY_B = ("single", {"model": "claude-3-5-haiku-20241022"})
POLICY_C = ("fallback", {"attempts": [{"model": "gpt-4o", "timeout_ms": 5000},
                                      {"model": "gpt-4o-mini", "timeout_ms": 5000}]})

SIMULATION_LEFT = "it would leave a simulation behind in a project the run did not create (the API cannot delete " \
                  "simulations)"
NO_SUCH = "mx-no-such-value"  # a filter value no resource has
EMPTY_WINDOW = ("2001-01-01T00:00:00Z", "2001-01-02T00:00:00Z")  # long before any traffic of this API

# By-id reads of every kind of resource (`{id}` is replaced by an id the target never issued).
UNKNOWN_ID_READS = [
    "/projects/{id}", "/projects/{id}/decisions/summary", "/providers/{id}", "/routing-configs/{id}",
    "/routing-configs/{id}/versions", "/routing-configs/{id}/versions/1", "/logs/{id}", "/logs/{id}/trace",
    "/budgets/{id}", "/budgets/{id}/events", "/budgets/{id}/alerts", "/webhooks/endpoints/{id}",
    "/webhooks/endpoints/{id}/deliveries", "/webhooks/deliveries/{id}", "/simulations/{id}",
    "/simulations/{id}/results", "/audit-logs/{id}", "/orgs/{id}/members",
]


def contains(text: str, secret: str) -> bool:
    return bool(secret) and secret in text


def iso_now(delta: timedelta = timedelta()) -> str:
    return format_timestamp(datetime.now(timezone.utc) + delta)


# ── keys ────────────────────────────────────────────────────────────────────


def listed_as_revoked(ctx: RuleContext, listed: list[dict[str, Any]], key_id: str) -> None:
    """A revoked key is no longer listed, or listed with its `revoked_at`."""
    mine = [k for k in listed if k.get("id") == key_id]
    ctx.check(not mine or mine[0].get("revoked_at"), f"the revoked key {key_id} is still listed as live (revoked_at = "
                                                     f"{mine[0].get('revoked_at') if mine else None!r})")


# ── routing configs ─────────────────────────────────────────────────────────


def versions(ctx: RuleContext, config_id: str) -> list[dict[str, Any]]:
    return ctx.data_list(ctx.t.get(f"/routing-configs/{config_id}/versions"), 200, what="GET …/versions")


def selected_model(data: Any) -> Any:
    """The model a dry-run or replay answer selected (top level, or in its `trace`)."""
    return at(data, "selected_model") or at(data, "trace", "selected_model")


# ── audit entries, logs, paging ─────────────────────────────────────────────


def audit(ctx: RuleContext, **params: Any) -> tuple[list[dict[str, Any]], Any]:
    """A page of audit entries and the `total` the answer gives."""
    reply = ctx.t.get("/audit-logs", params={"limit": 200, **params})
    data = ctx.data_list(reply, 200, what=f"GET /audit-logs?{params}")
    return data, at(reply.json, "total")


def all_logs(ctx: RuleContext, cap: int = 2000, **params: Any) -> list[dict[str, Any]] | None:
    """Every log (with the filters), page by page; None when there are more than `cap`."""
    found: list[dict[str, Any]] = []
    while len(found) <= cap:
        page = ctx.logs(limit=200, offset=len(found), **params)
        found += page
        if len(page) < 200:
            return found
    return None


def pages(ctx: RuleContext, fetch: Callable[[int, int], list[dict[str, Any]]], size: int, upto: int) -> list[Any]:
    """Ids of consecutive pages of `size` from offset 0 until `upto` items or a short page."""
    ids: list[Any] = []
    while len(ids) < upto:
        page = fetch(size, len(ids))
        ctx.check(len(page) <= size, f"limit={size} returned {len(page)} items")
        ids += [item.get("id") for item in page]
        if len(page) < size:
            break
    return ids


def first_difference(got: list[Any], want: list[Any]) -> str:
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return f"item {i} is {a!r}, expected {b!r} ({len(got)} paged, {len(want)} whole)"
    return f"{len(got)} items paged, {len(want)} expected"


def window_with_traffic(logs: list[dict[str, Any]]) -> tuple[datetime, datetime, list[dict[str, Any]]] | None:
    """A window (start, end] holding some of the logs and, when they span time, not all: from the middle of a gap of
    at least two seconds near the median (else an hour before the oldest) to an hour after the newest. None without
    timestamps."""
    stamped = [(read_timestamp(log.get("timestamp")), log) for log in logs]
    stamped = sorted(((m, log) for m, log in stamped if m is not None), key=lambda pair: pair[0])
    if not stamped:
        return None
    moments = [m for m, _ in stamped]
    middle = len(moments) // 2
    gaps = sorted(range(len(moments) - 1), key=lambda i: abs(i - middle))
    gap = next((i for i in gaps if moments[i + 1] - moments[i] >= timedelta(seconds=2)), None)
    start = moments[gap] + (moments[gap + 1] - moments[gap]) / 2 if gap is not None else moments[0] - timedelta(hours=1)
    end = moments[-1] + timedelta(hours=1)
    return start, end, [log for m, log in stamped if start < m <= end]


def project_with_logs(ctx: RuleContext) -> str:
    """The existing project with the most of the latest logs."""
    counts: dict[str, int] = {}
    for log in ctx.logs_or_skip():
        counts[log["project_id"]] = counts.get(log["project_id"], 0) + 1
    for project_id, _ in sorted(counts.items(), key=lambda item: -item[1]):
        if ctx.t.get(f"/projects/{project_id}").ok:
            return project_id
    ctx.skip("no existing project has logs")


# ── simulations ─────────────────────────────────────────────────────────────


def simulation_body(ctx: RuleContext, project_id: str, **extra: Any) -> dict[str, Any]:
    return {"name": ctx.name("sim"), "project_id": project_id, "candidate_policy": POLICY_B[0],
            "candidate_config": POLICY_B[1], "window_start": iso_now(-timedelta(days=7)),
            "window_end": iso_now(timedelta(minutes=1)), **extra}


def wait_simulation(ctx: RuleContext, sim_id: str) -> dict[str, Any]:
    """The simulation once it has finished (completed, failed or cancelled); its statuses seen go to
    `ctx.data["statuses"]`."""
    seen: list[Any] = []

    def probe() -> dict[str, Any] | None:
        data = ctx.data_object(ctx.t.get(f"/simulations/{sim_id}"), 200, what="GET /simulations/{id}")
        if data.get("status") not in seen:
            seen.append(data.get("status"))
        return data if data.get("status") in ("completed", "failed", "cancelled") else None

    done = ctx.poll(probe, ctx.timeout(60) * (5 if ctx.remote else 1), interval=0.2)
    if done is None:
        ctx.fail(f"simulation {sim_id} did not finish in time (statuses seen: {seen})")
    ctx.data["statuses"] = seen
    return done


# ── webhooks ────────────────────────────────────────────────────────────────


def channel_hook(ctx: RuleContext, project_id: str, label: str, event_type: str) -> tuple[dict[str, Any], str, Any]:
    """A project-scoped endpoint subscribed to `event_type`, on a fresh receiver channel: (endpoint, signing secret,
    channel)."""
    channel = ctx.receiver.channel(label)
    body = {"name": ctx.name(label), "url": channel.url, "event_types": [event_type], "project_id": project_id}
    what = "setup: POST /webhooks/endpoints"
    data = ctx.data_object(ctx.t.post("/webhooks/endpoints", json=body), 201, what=what)
    endpoint = ctx.object(ctx.field(data, "endpoint", what=what), f"{what}: `endpoint`")
    ctx.ident(endpoint, f"{what}: `endpoint`")
    return endpoint, ctx.field(data, "signingSecret", str, what=what), channel

