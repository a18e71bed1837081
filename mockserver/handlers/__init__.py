"""One module per resource family, each a thin map from an operation to a domain workflow.

Importing this package registers every operation's handler; `load_handlers()` is the table.
"""

from ..registry import HANDLERS, Handler
from . import audit, budgets, keys, logs, orgs, projects, providers, routing, simulations, webhooks  # noqa: F401


def load_handlers() -> dict[str, Handler]:
    return dict(HANDLERS)
