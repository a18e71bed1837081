"""The domain rules: behaviour the spec and the product docs state but no schema can check.

One small function per rule, named after it, registered with a stable code (`MX-…`), a `source` ("spec", "docs" or
"ours") and the line of DOMAIN.md it enforces; rules whose source is "ours" are decisions of this project and run
only in the opt-in strict profile. Each rule drives the target through its public API (create → check → clean up),
reads its answers by their documented shape and raises `RuleViolation(code, name, message)` when the target breaks
it.

The package holds one module per area (`auth`, `keys`, `routing`, `dryrun`, `resources`, `orgs`, `envelopes`,
`logs`, `scoping`, `audit`, `analytics`, `simulations`, `budgets`, `webhooks`, and `probes` for the generic
oracles), over `core` (what a rule is, the registry), `context` (what a rule runs with) and `common` (what several
areas share). Rule modules import only those three, never each other; `contracts.ruleset` imports every area in
order and is where the full registry is read.
"""
