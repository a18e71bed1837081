"""The domain: the world's state and every workflow and constructor, with no HTTP in sight.

One module per resource family (`projects`, `routing_configs`, `keys`, `providers`, `budgets`,
`webhooks`, `simulations`, `logs`, `audit`, `orgs`); workflows take a `context.Context` (who acts, in
which organization, with which runtime) and plain values, and return plain values. The HTTP
handlers, the seeded world and the tests all build on these, so a seeded record and a live one are
made by the same code.
"""
