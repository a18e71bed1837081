"""Request logs: filters filter and combine, `limit` and `offset` page consistently, newest first."""

from __future__ import annotations

from typing import Any

from modelux_spec import read_timestamp
from ..target import dumps
from .common import NO_SUCH, all_logs, first_difference, pages
from .context import RuleContext
from .core import rule


LOG_FIELDS = {"projectId": "project_id", "status": "status", "endUserId": "end_user_id"}


def _matches(log: dict[str, Any], params: dict[str, Any]) -> bool:
    return all(log.get(LOG_FIELDS[k]) == v for k, v in params.items())


@rule("MX-LOGS-FILTERS", source="spec", title="Log filters really filter and combine",
      ref="Logs: filters combine (projectId, endUserId, status).", needs=("logs",))
def log_filters_filter(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs, analytics: "Logs newest first; filters combine". Spec, listLogs: `projectId`, `endUserId`,
    `status` are "Filter by …" parameters.

    Every filter (alone and combined) must return only matching logs, and some when the sample has matching ones.
    Negative probes: a project or end user no log has, and the status no log of the sample has (or, with both
    statuses present, the two statuses) must come back empty or disjoint — a target ignoring the parameter fails.
    If no filter tried excludes any log of the sample, the data is too uniform to tell: SKIP, never PASS."""
    sample = ctx.logs_or_skip()
    project = sample[0]["project_id"]
    status = next((log.get("status") for log in sample if log.get("status") == "error"), sample[0].get("status"))
    user = next((log.get("end_user_id") for log in sample if log.get("end_user_id")), None)
    filters: list[dict[str, Any]] = [{"projectId": project}, {"status": status}, {"projectId": project,
                                                                                   "status": status}]
    if user:
        filters += [{"endUserId": user}, {"endUserId": user, "status": status}]
    excluded_any = False
    for params in filters:
        found = ctx.logs(**params)
        wrong = [log for log in found if not _matches(log, params)]
        if wrong:
            ctx.fail(f"GET /logs?{params} returned {len(wrong)} non-matching logs, e.g. {dumps(wrong[0])}")
        ctx.check(found or not any(_matches(log, params) for log in sample),
                  f"GET /logs?{params} returned nothing though matching logs exist")
        excluded_any = excluded_any or any(not _matches(log, params) for log in sample)
    for params in ({"projectId": f"proj_{NO_SUCH}"}, {"endUserId": NO_SUCH},
                   {"projectId": project, "endUserId": NO_SUCH}):
        found = ctx.logs(**params)
        if found:
            ctx.fail(f"GET /logs?{params} names something no log has, yet returned {len(found)} logs, e.g. "
                     f"{dumps(found[0])}")
    by_status = {value: {log["id"] for log in ctx.logs(status=value)} for value in ("success", "error")}
    ctx.check(not by_status["success"] & by_status["error"],
              f"GET /logs?status=success and ?status=error share {sorted(by_status['success'] & by_status['error'])[:3]}")
    for value, ids in by_status.items():
        if not any(log.get("status") == value for log in sample):
            ctx.check(not ids or len(sample) >= 200, f"no log of the sample has status {value}, yet GET "
                                                     f"/logs?status={value} returned {len(ids)}")
    if not excluded_any:
        ctx.skip("every log of the sample matches every filter tried: the data is too uniform to tell a filter "
                 "from none")


@rule("MX-LOGS-PAGING", source="spec", title="`limit` and `offset` page the logs consistently",
      ref="Logs: `limit` (default 50, docs: max 200) and `offset` page.", needs=("logs",))
def log_paging_consistent(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs: "`limit` (default 50, docs: max 200) and `offset` page." Spec: `limit` "Number of results
    to return" (default 50), `offset` "Number of results to skip".

    Consecutive pages of 1, 3 and 7 concatenate to the first 21 logs, with no item skipped or repeated at a
    boundary; an offset past the end is empty; no `limit` gives 50."""
    for _ in range(3):
        whole = [log["id"] for log in ctx.logs(limit=21)]
        paged = {size: pages(ctx, lambda limit, offset: ctx.logs(limit=limit, offset=offset), size, len(whole))
                 for size in (1, 3, 7)}
        if [log["id"] for log in ctx.logs(limit=21)] == whole:
            break  # else the logs changed under us; look again
    else:
        ctx.skip("the logs kept changing while paging (another client is writing)")
    everything = all_logs(ctx)
    past = len(everything) if everything is not None else 10**6
    beyond = ctx.logs(limit=5, offset=past)
    ctx.check(not beyond, f"GET /logs?offset={past} (past the end) returned {len(beyond)} logs")
    if len(whole) < 2:
        ctx.skip(f"the target has {len(whole)} log(s): too few to tell paging from none")
    for size, ids in paged.items():
        ctx.check(ids[:len(whole)] == whole, f"pages of {size} do not concatenate to the first {len(whole)} logs: "
                                             f"{first_difference(ids, whole)}")
    many = ctx.logs(limit=200)
    default = ctx.data_list(ctx.t.get("/logs"), 200, what="GET /logs")
    ctx.check(len(default) == min(50, len(many)), f"GET /logs without limit returned {len(default)} logs; the "
                                                  f"documented default is 50 ({len(many)} available)")




@rule("MX-LOGS-ORDER", source="ours", title="Logs are listed newest first", ref="Logs: Logs newest first.",
      needs=("logs",))
def logs_newest_first(ctx: RuleContext) -> None:
    """DOMAIN.md, Logs: "Logs newest first". (Ours: the spec does not say.) Logs that all carry one timestamp are
    in every order at once: SKIP."""
    logs = ctx.logs_or_skip()
    moments = [read_timestamp(log.get("timestamp")) for log in logs]
    unread = [log for log, moment in zip(logs, moments) if moment is None]
    ctx.check(not unread, f"a log's `timestamp` is not an ISO 8601 timestamp: {dumps(unread[:1])}")
    if len(set(moments)) < 2:
        ctx.skip("the logs carry fewer than two distinct timestamps: any order is newest first")
    ctx.check(moments == sorted(moments, reverse=True), "GET /logs is not ordered newest first")
