"""The audit log: every mutation is an entry, filters filter and combine, `total` counts every match, pages page."""

from __future__ import annotations

from typing import Any

from ..target import dumps
from .common import NO_SUCH, POLICY_A, POLICY_B, audit, first_difference, pages
from .context import RuleContext
from .core import rule


@rule("MX-AUDIT-PER-MUTATION", source="docs", title="Every successful mutation writes an audit entry",
      ref="Audit log: Every successful mutation through the API writes an entry: `resource_type`, `resource_id`, "
          "`action` (`created`, `updated`, `deleted`, `revoked`, `restored`, `rotated`, …), `actor_id`, `changes`, "
          "`occurred_at`.")
def audit_entry_per_mutation(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "Every successful mutation through the API writes an entry: `resource_type`,
    `resource_id`, `action` (`created`, `updated`, `deleted`, `revoked`, `restored`, `rotated`, `promoted`,
    `reset`, …), `actor_id`, `changes` (…), `occurred_at`.\""""
    project = ctx.project()
    pid = project["id"]
    ctx.expect(ctx.t.patch(f"/projects/{pid}", json={"name": ctx.name("renamed")}), 200, what="PATCH /projects/{id}")
    config = ctx.routing_config(pid, *POLICY_A)
    ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": POLICY_B[0], "config": POLICY_B[1]}),
               200, what="PATCH routing config")
    ctx.expect(ctx.t.post(f"/routing-configs/{config['id']}/restore", json={"version": 1}), 200, what="restore")
    key = ctx.data_object(ctx.t.post("/keys", json={"projectId": pid, "name": ctx.name("key")}), 201, what="POST /keys")
    ctx.ident(key, "POST /keys")
    ctx.expect(ctx.t.delete(f"/keys/{key['id']}"), 200, what="DELETE /keys/{id}")
    hook = ctx.project_webhook(pid, what="POST /webhooks/endpoints")
    ctx.expect(ctx.t.post(f"/webhooks/endpoints/{hook['id']}/rotate"), 200, what="rotate")
    ctx.expect(ctx.t.delete(f"/routing-configs/{config['id']}"), 200, what="DELETE routing config")
    expected = [(pid, "created"), (pid, "updated"), (config["id"], "created"), (config["id"], "updated"),
                (config["id"], "restored"), (config["id"], "deleted"), (key["id"], "created"), (key["id"], "revoked"),
                (hook["id"], "created"), (hook["id"], "rotated")]
    for resource_id, action in expected:
        entries, _ = audit(ctx, resourceId=resource_id)
        hits = [e for e in entries if e.get("resource_id") == resource_id and e.get("action") == action]
        ctx.check(hits, f"no audit entry with action `{action}` for {resource_id}; entries: "
                        f"{[e.get('action') for e in entries]}")
        entry = hits[0]
        for name in ("resource_type", "actor_id", "occurred_at"):
            ctx.check(entry.get(name), f"audit entry {entry.get('id')} lacks `{name}`: {dumps(entry)}")


@rule("MX-AUDIT-TOTAL", source="spec", title="`total` counts every matching audit entry, not just the page",
      ref="Audit log: `total` counts all matches, not just the page. (Spec: \"Total number of matching audit log "
          "entries\".)")
def audit_total_counts_all(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`GET /audit-logs` filters combine; `total` counts all matches, not just the page."
    Spec: `total` — "Total number of matching audit log entries"."""
    project = ctx.project()
    for _ in range(2):
        ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    everything, total_all = audit(ctx, resourceId=project["id"])
    ctx.check(len(everything) >= 3, f"3 mutations of {project['id']} left {len(everything)} audit entries")
    page, total = audit(ctx, resourceId=project["id"], limit=1)
    ctx.check(len(page) == 1, f"limit=1 returned {len(page)} entries")
    ctx.check(total == len(everything), f"with limit=1, total = {total!r} but {len(everything)} entries match")
    ctx.check(total_all == len(everything), f"with limit=200, total = {total_all!r} but {len(everything)} listed")


@rule("MX-AUDIT-FILTERS", source="spec", title="Audit filters really filter and combine",
      ref="Audit log: `GET /audit-logs` filters combine.")
def audit_filters_combine(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`GET /audit-logs` filters combine". Spec: `resourceType`, `resourceId`, `action`,
    `actorId` filters."""
    project = ctx.project()
    ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    entries, _ = audit(ctx, resourceId=project["id"])
    ctx.check(entries, f"no audit entries for {project['id']}")
    actor = entries[0].get("actor_id")
    checks = [{"resourceId": project["id"], "action": "updated"}, {"resourceType": "project", "action": "created"},
              {"resourceId": project["id"], "actorId": actor}, {"action": "created"}]
    fields = {"resourceId": "resource_id", "resourceType": "resource_type", "action": "action", "actorId": "actor_id"}
    for params in checks:
        found, total = audit(ctx, **params)
        wrong = [e for e in found if any(e.get(fields[k]) != v for k, v in params.items())]
        if wrong:
            ctx.fail(f"GET /audit-logs?{params} returned non-matching entries, e.g. {dumps(wrong[0])}")
        ctx.check(found, f"GET /audit-logs?{params} returned nothing though {project['id']} has such entries")
    none, total = audit(ctx, resourceId=project["id"], action="deleted")
    ctx.check(not none and total in (0, None), f"?resourceId=<live project>&action=deleted returned {len(none)} entries")
    for params in ({"resourceId": f"proj_{NO_SUCH}"}, {"actorId": NO_SUCH}, {"resourceType": NO_SUCH},
                   {"action": NO_SUCH}):
        none, total = audit(ctx, **params)
        ctx.check(not none and total in (0, None), f"GET /audit-logs?{params} names something no entry has, yet "
                                                   f"returned {len(none)} entries (total {total!r})")


@rule("MX-AUDIT-PAGING", source="spec", title="`limit` and `offset` page the audit log; `total` stays the match count",
      ref="Audit log: `GET /audit-logs` filters combine; `total` counts all matches, not just the page. (Spec: "
          "`limit` \"Number of results to return\", `offset` \"Number of results to skip\".)")
def audit_paging_consistent(ctx: RuleContext) -> None:
    """DOMAIN.md, Audit log: "`total` counts all matches, not just the page." Spec: `limit`, `offset` page the
    entries. A project with eight entries is paged by 3: the pages concatenate to the whole with nothing skipped or
    repeated at a boundary, each page says `total` 8, and an offset past the end is empty with `total` still 8."""
    project = ctx.project()
    for _ in range(7):
        ctx.expect(ctx.t.patch(f"/projects/{project['id']}", json={"name": ctx.name("renamed")}), 200, what="PATCH")
    whole, total = audit(ctx, resourceId=project["id"])
    ids = [e.get("id") for e in whole]
    ctx.check(len(ids) >= 8 and total == len(ids), f"8 mutations of {project['id']} list {len(ids)} entries, "
                                                   f"total {total!r}")
    totals = []

    def page(limit: int, offset: int) -> list[dict[str, Any]]:
        entries, page_total = audit(ctx, resourceId=project["id"], limit=limit, offset=offset)
        totals.append(page_total)
        return entries

    paged = pages(ctx, page, 3, len(ids))
    ctx.check(paged == ids, f"pages of 3 do not concatenate to the whole: {first_difference(paged, ids)}")
    ctx.check(all(said == len(ids) for said in totals), f"pages of 3 say total {sorted(set(map(str, totals)))}; "
                                         f"{len(ids)} entries match")
    for offset in (len(ids), len(ids) + 50):
        beyond, beyond_total = audit(ctx, resourceId=project["id"], limit=3, offset=offset)
        ctx.check(not beyond, f"offset {offset} (past the end of {len(ids)}) returned {len(beyond)} entries")
        ctx.check(beyond_total == len(ids), f"offset {offset} (past the end) says total {beyond_total!r}; "
                                            f"{len(ids)} entries match")
