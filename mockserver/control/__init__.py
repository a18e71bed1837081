"""The control surface: routes outside the API's base path that a frontend developer drives the mock
with (`/__mock/...`), and the offline API reference (`/docs`).

None of it is in the served spec, so schemathesis and the contract suite never see it. Every route
but sign-in needs the caller's management key or session; errors use the API's envelope
`{"error", "code"}` with a message naming what was wrong, and bad input changes nothing.
"""

from .docs import docs_blueprint
from .routes import CONTROL_PREFIX, control_blueprint

__all__ = ["CONTROL_PREFIX", "control_blueprint", "docs_blueprint"]
