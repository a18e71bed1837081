"""`/docs`: the effective spec in Swagger UI, offline, "try it out" already authorized.

Swagger UI's files come from the `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI 3.1),
served from its installed `static/` folder: no CDN, no network. The page loads `/openapi.json` (the
spec's server is the relative `/api/manage/v1`, so "try it out" calls this mock) and pre-authorizes
the `BearerAuth` scheme with the mock's management key — for browsers on this machine only: a
client from another address gets the page without the key (then "Authorize" takes one, or a
signed-in session's cookie does the work).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_from_directory

STATIC_FILES = ("swagger-ui.css", "index.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Modelux Management API — mock reference</title>
  <link rel="stylesheet" href="/docs/static/swagger-ui.css">
  <link rel="stylesheet" href="/docs/static/index.css">
  <link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/static/swagger-ui-bundle.js"></script>
  <script>
    const token = __TOKEN__;
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      tryItOutEnabled: true,
      displayRequestDuration: true,
      presets: [SwaggerUIBundle.presets.apis],
      onComplete: () => { if (token) window.ui.preauthorizeApiKey("BearerAuth", token); },
    });
  </script>
</body>
</html>
"""


def swagger_ui_static() -> Path:
    """The installed Swagger UI files (found without importing the package's web-framework glue)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed; it is one of the mock's dependencies")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def from_loopback() -> bool:
    try:
        return ipaddress.ip_address((request.remote_addr or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def docs_blueprint() -> Blueprint:
    bp = Blueprint("docs", __name__)
    static = swagger_ui_static()

    @bp.get("/docs")
    @bp.get("/docs/")
    def page() -> Response:
        token = current_app.extensions["modelux"].token if from_loopback() else None
        html = PAGE.replace("__TOKEN__", json.dumps(token).replace("</", "<\\/"))
        response = Response(html, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.get("/docs/static/<name>")
    def asset(name: str) -> Response:
        if name not in STATIC_FILES:
            abort(404)
        return send_from_directory(static, name, max_age=3600)

    return bp
