"""Routing configs and their versions: creation is version 1, a policy or config change is version n+1, restore adds
a version, names are unique in a project, invalid policy configs are rejected, a partial PATCH is whole or nothing."""

from __future__ import annotations

from typing import Any

import jsonschema

from modelux_spec import POLICY_CONFIG_SCHEMAS
from ..target import dumps
from .common import POLICY_A, POLICY_B, POLICY_C, versions
from .context import RuleContext
from .core import rule


@rule("MX-VERSION-HISTORY", source="docs", title="Creation is version 1; the history is ascending, each with created_by",
      ref="Routing configs and versions: Create → version 1 in the history. `versions` list ascending, each with "
          "`created_by` (the acting key/user).")
def version_history_ascending(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "Create → version 1 in the history." and "`versions` list ascending,
    each with `created_by` (the acting key/user).\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.check(config.get("version") == 1, f"a new routing config has version {config.get('version')!r}, not 1")
    history = versions(ctx, config["id"])
    ctx.check([v.get("version") for v in history] == [1], f"a new config's history is {dumps(history)}")
    for policy, settings in (POLICY_B, POLICY_C):
        ctx.expect(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": policy, "config": settings}),
                   200, what="PATCH policy/config")
    history = versions(ctx, config["id"])
    numbers = [v.get("version") for v in history]
    ctx.check(all(type(n) is int for n in numbers), f"versions are not numbered with integers: {numbers}")
    ctx.check(numbers == sorted(numbers) and numbers[:1] == [1] and len(set(numbers)) == len(numbers),
              f"versions are not listed ascending from 1: {numbers}")
    for version in history:
        ctx.check(isinstance(version.get("created_by"), str) and version["created_by"],
                  f"version {version.get('version')} has created_by = {version.get('created_by')!r}")
        one = ctx.data_object(ctx.t.get(f"/routing-configs/{config['id']}/versions/{version['version']}"), 200,
                              what=f"GET …/versions/{version['version']}")
        ctx.check((one.get("policy"), one.get("config")) == (version.get("policy"), version.get("config")),
                  f"GET …/versions/{version['version']} disagrees with the list: {dumps(one)} vs {dumps(version)}")


@rule("MX-VERSION-BUMP", source="spec", title="A PATCH that changes policy or config creates version n+1",
      ref="Routing configs and versions: `PATCH` that changes `policy` or `config` → a new version (n+1) holding the "
          "new policy+config. (Spec: \"Changes to policy or config create a new version automatically.\")")
def patch_policy_bumps_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "`PATCH` that changes `policy` or `config` → a new version (n+1)
    holding the new policy+config." Spec, updateRoutingConfig: "Changes to policy or config create a new version
    automatically.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    for expected, (policy, settings) in ((2, POLICY_B), (3, POLICY_C)):
        data = ctx.data_object(ctx.t.patch(f"/routing-configs/{config['id']}",
                                           json={"policy": policy, "config": settings}), 200, what="PATCH policy")
        ctx.check(data.get("version") == expected, f"after changing the policy the config is at version "
                                                   f"{data.get('version')!r}, expected {expected}")
        current = ctx.data_object(ctx.t.get(f"/routing-configs/{config['id']}"), 200, what="GET config")
        ctx.check((current.get("policy"), current.get("config")) == (policy, settings),
                  f"GET shows {current.get('policy')}/{dumps(current.get('config'))} after the PATCH")
        history = versions(ctx, config["id"])
        ctx.check(len(history) == expected and history[-1].get("version") == expected
                  and (history[-1].get("policy"), history[-1].get("config")) == (policy, settings),
                  f"history after PATCH #{expected - 1}: {dumps(history, 500)}")


@rule("MX-VERSION-NOOP", source="ours", title="A PATCH of name/flags or identical policy+config adds no version",
      ref="Routing configs and versions: `PATCH` of only `name`, `enforce_budgets`, `is_active`, or with identical "
          "policy/config → no new version (ours).")
def patch_without_policy_change_keeps_version(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "`PATCH` of only `name`, `enforce_budgets`, `is_active`, or with
    identical policy/config → no new version (ours).\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    for body in ({"name": ctx.name("renamed")}, {"enforce_budgets": True}, {"is_active": False},
                 {"policy": POLICY_A[0], "config": POLICY_A[1]}):
        data = ctx.data_object(ctx.t.patch(f"/routing-configs/{config['id']}", json=body), 200, what="PATCH")
        ctx.check(data.get("version") == 1, f"PATCH {dumps(body)} moved the version to {data.get('version')!r}")
    ctx.check(len(versions(ctx, config["id"])) == 1, "PATCHes without a policy change added versions")


@rule("MX-RESTORE-NEW-VERSION", source="spec", title="Restoring version k creates version n+1 equal to k",
      ref="Routing configs and versions: `POST /{id}/restore {version: k}` → a *new* version n+1 whose policy+config "
          "equal version k's; the config's current policy/config become those.")
def restore_creates_new_version(ctx: RuleContext) -> None:
    """DOMAIN.md: "`POST /{id}/restore {version: k}` → a *new* version n+1 whose policy+config equal version k's;
    the config's current policy/config become those." Spec, restore: "Creates a new version with the restored
    config.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    cid = config["id"]
    ctx.expect(ctx.t.patch(f"/routing-configs/{cid}", json={"policy": POLICY_B[0], "config": POLICY_B[1]}), 200,
               what="PATCH policy")
    data = ctx.data_object(ctx.t.post(f"/routing-configs/{cid}/restore", json={"version": 1}), 200,
                           what="POST …/restore {version: 1}")
    ctx.check(data.get("version") == 3, f"restoring version 1 of a config at version 2 answered version "
                                        f"{data.get('version')!r}; expected a new version 3")
    ctx.check((data.get("policy"), data.get("config")) == POLICY_A,
              f"after restoring version 1 the config is {data.get('policy')}/{dumps(data.get('config'))}")
    current = ctx.data_object(ctx.t.get(f"/routing-configs/{cid}"), 200, what="GET config")
    ctx.check((current.get("policy"), current.get("config"), current.get("version")) == (*POLICY_A, 3),
              f"GET after restore shows version {current.get('version')} {current.get('policy')}")
    history = versions(ctx, cid)
    ctx.check([v.get("version") for v in history] == [1, 2, 3],
              f"history after restore is {[v.get('version') for v in history]}, expected [1, 2, 3]")
    ctx.check((history[2].get("policy"), history[2].get("config")) == POLICY_A,
              f"version 3 holds {dumps(history[2])}, not version 1's policy and config")


@rule("MX-RESTORE-UNKNOWN-404", source="docs", title="Restoring an unknown version is a 404 and changes nothing",
      ref="Routing configs and versions: Unknown k → 404.")
def restore_unknown_version_404(ctx: RuleContext) -> None:
    """DOMAIN.md, Routing configs and versions: "Unknown k → 404.\""""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.expect_error(ctx.t.post(f"/routing-configs/{config['id']}/restore", json={"version": 99}), 404,
                     what="POST …/restore {version: 99}")
    ctx.check(len(versions(ctx, config["id"])) == 1, "a failed restore still added a version")


@rule("MX-CONFIG-NAME-UNIQUE", source="docs", title="Routing config names are unique within a project",
      ref="Routing configs and versions: `name` is the slug used as `model: \"@name\"`: unique within a project "
          "(duplicate → 400).")
def config_name_unique_in_project(ctx: RuleContext) -> None:
    """DOMAIN.md: "`name` is the slug used as `model: "@name"`: unique within a project (duplicate → 400)." The
    effective spec documents 409 for it (erratum E3), so either rejection is accepted."""
    first, second = ctx.project(), ctx.project()
    name = ctx.name("dup")
    ctx.routing_config(first["id"], *POLICY_A, name=name)
    reply = ctx.t.post("/routing-configs", json={"projectId": first["id"], "name": name, "policy": POLICY_B[0],
                                                 "config": POLICY_B[1]})
    ctx.expect_error(reply, 400, 409, what="a second config with the same name in the same project")
    ctx.routing_config(second["id"], *POLICY_A, name=name)  # the same name in another project is fine


@rule("MX-POLICY-INVALID-400", source="docs", title="Invalid policy configs are rejected with 400",
      ref="Routing configs and versions: Invalid policy config → 400 on create/patch/dry-run. Dry-run validates "
          "the policy config locally first (400).")
def invalid_policy_config_rejected(ctx: RuleContext) -> None:
    """DOMAIN.md: "Invalid policy config → 400 on create/patch/dry-run." and "Dry-run validates the policy config
    locally first (400)". Spec, dry-run: "Validates the policy config locally before forwarding.\""""
    project = ctx.project()
    invalid = [("single", {}), ("fallback", {"attempts": []}), ("ensemble", {"members": "gpt-4o"})]
    for policy, settings in invalid:
        ctx.expect_error(ctx.t.post("/routing-configs/dry-run", json={"project_id": project["id"], "policy": policy,
                                                                      "config": settings}),
                         400, what=f"dry-run of {policy} {dumps(settings)}")
        ctx.expect_error(ctx.t.post("/routing-configs", json={"projectId": project["id"], "name": ctx.name("bad"),
                                                              "policy": policy, "config": settings}),
                         400, what=f"creating a config with {policy} {dumps(settings)}")
    config = ctx.routing_config(project["id"], *POLICY_A)
    ctx.expect_error(ctx.t.patch(f"/routing-configs/{config['id']}", json={"policy": "single", "config": {}}),
                     400, what="PATCH to single {} (no model)")
    ctx.check(len(versions(ctx, config["id"])) == 1, "a rejected PATCH still added a version")


def _fits(policy: Any, config: Any) -> bool:
    """Whether `config` has the shape the docs give `policy`'s config."""
    schema = POLICY_CONFIG_SCHEMAS.get(policy) if isinstance(policy, str) else None
    return schema is not None and jsonschema.Draft202012Validator(schema).is_valid(config)


def _judge_partial_patch(ctx: RuleContext, config_id: str, body: dict[str, Any], before: tuple[Any, Any, Any],
                         what: str) -> tuple[Any, Any, Any]:
    """PATCH `body` (policy alone or config alone) and judge the answer; the config's (policy, config, version) after.

    A 400 must leave the config as it was. A 200 must have applied what was sent, keep a policy and a config that fit
    each other, be the new version n+1 — in the answer, on a re-read and at the end of the history."""
    path = f"/routing-configs/{config_id}"
    reply = ctx.expect(ctx.t.patch(path, json=body), 200, 400, what=what)
    if reply.status == 400:
        ctx.expect_error(reply, 400, what=what)
        current = ctx.data_object(ctx.t.get(path), 200, what=f"GET config after the rejected {what}")
        shown = (current.get("policy"), current.get("config"), current.get("version"))
        ctx.check(shown == before, f"the {what} was rejected (400), yet the config is now {dumps(shown)}; it was "
                                   f"{dumps(before)}")
        return before
    answered = ctx.data_object(reply, 200, what=what)
    current = ctx.data_object(ctx.t.get(path), 200, what=f"GET config after the {what}")
    after = (current.get("policy"), current.get("config"), current.get("version"))
    shown = (answered.get("policy"), answered.get("config"), answered.get("version"))
    ctx.check(shown == after, f"the {what} answered policy/config/version {dumps(shown)} but GET shows {dumps(after)}")
    for sent, index in (("policy", 0), ("config", 1)):
        if sent in body:
            ctx.check(after[index] == body[sent], f"the {what} was accepted (200) but the config's {sent} is "
                                                  f"{dumps(after[index])}, not the {dumps(body[sent])} sent")
    ctx.check(_fits(after[0], after[1]), f"the {what} was accepted (200) and left policy {after[0]!r} with a config "
                                         f"that does not fit it: {dumps(after[1])} (a mismatched policy and config "
                                         "must be a 400)")
    ctx.check(after[2] == before[2] + 1, f"the {what} was accepted (200) and changed the config from version "
                                         f"{before[2]} to {dumps(after[2])}; a change of policy or config is version "
                                         f"{before[2] + 1}")
    history = versions(ctx, config_id)
    ctx.check(history and (history[-1].get("version"), history[-1].get("policy"), history[-1].get("config"))
              == (after[2], after[0], after[1]),
              f"after the accepted {what} the history ends with {dumps(history[-1:])}, not version {after[2]} with "
              "the new policy and config")
    return after


@rule("MX-PATCH-PARTIAL", source="spec", title="A PATCH of `config` alone or `policy` alone is a 400 or one new version "
      "whose policy and config fit", ref="Routing configs and versions: the spec makes every PATCH field optional, so "
      "`config` alone and `policy` alone are valid requests (spec: \"Changes to policy or config create a new version "
      "automatically.\"); a policy and a config that do not fit each other are invalid (400).")
def partial_patch_whole_or_rejected(ctx: RuleContext) -> None:
    """Spec, updateRoutingConfig: every body field is optional and "Changes to policy or config create a new version
    automatically."; DOMAIN.md, Routing configs and versions: "Invalid policy config → 400 on create/patch".

    The spec is silent on what a partial PATCH means, so a target may reject one with 400 (nothing changes) or apply
    it. Applied, it must be one new version n+1 holding what was sent and a policy and config that fit each other,
    the same in the answer, on a re-read and in the history. On a `single` config: `config` alone naming another
    model (fits), `config` alone with a fallback's attempts (does not fit `single`), then `policy: fallback` alone
    (the current config does not fit it). A target that answers 400 to all three passes."""
    project = ctx.project()
    config = ctx.routing_config(project["id"], *POLICY_A)
    cid = ctx.ident(config, "setup: POST /routing-configs")
    state = ctx.data_object(ctx.t.get(f"/routing-configs/{cid}"), 200, what="GET config")
    before = (state.get("policy"), state.get("config"), state.get("version"))
    ctx.check(before == (*POLICY_A, 1), f"a new config shows policy/config/version {dumps(before)}")
    before = _judge_partial_patch(ctx, cid, {"config": POLICY_B[1]}, before,
                                  what=f"PATCH with `config` alone {dumps(POLICY_B[1])} on a single config")
    before = _judge_partial_patch(ctx, cid, {"config": POLICY_C[1]}, before,
                                  what=f"PATCH with `config` alone {dumps(POLICY_C[1])} (a fallback's) on a single "
                                       "config")
    if before[0] == "single":
        _judge_partial_patch(ctx, cid, {"policy": POLICY_C[0]}, before,
                             what=f"PATCH with `policy` alone {POLICY_C[0]!r} on a single config {dumps(before[1])}")
