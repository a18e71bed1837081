"""One module per resource family; importing them registers every operation's handler."""

from . import (  # noqa: F401
    audit,
    budgets,
    keys,
    logs,
    orgs,
    projects,
    providers,
    routing,
    simulations,
    webhooks,
)
