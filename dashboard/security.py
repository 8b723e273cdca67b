"""Safety nets in front of every request (after sign-in): a client-given region in a query string or
in a Dash callback's inputs must be inside the user's jurisdiction, exports are audited, and every
response carries security headers. The pages and callbacks also call dashboard/access.py
themselves; these nets catch what a new callback or route forgets."""

from __future__ import annotations

import re

import flask

from config.city import City
from dashboard.access import OutOfScope, require_region, user_scope
from dashboard.auth import audit, is_public

# A region code as a whole string, or inside a URL or query string (?region=…, parent=…).
CODE_IN_QUERY = re.compile(r"(?:region|parent|code|grid)=(\d{4,15})")
QUERY_KEYS = ("region", "parent", "code", "grid", "grid_code")

# Dash needs inline scripts (its config and renderer bootstrap) and inline styles (plotly); everything
# else stays on this origin. No framing (clickjacking), no referrer (a wall's URL may carry a token).
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def codes_in(value, found: set[str], known) -> None:
    """Every region code in a callback value: whole strings that are codes, and codes in URL queries."""
    if isinstance(value, str):
        if value in known:
            found.add(value)
        found.update(CODE_IN_QUERY.findall(value))
    elif isinstance(value, dict):
        for v in value.values():
            codes_in(v, found, known)
    elif isinstance(value, (list, tuple)):
        for v in value:
            codes_in(v, found, known)


def check_codes(codes: set[str]) -> None:
    """Refuse a code of another jurisdiction: neither inside the scope nor one of its ancestors (an
    ancestor is refused by the page's own require_region when it is asked to show it)."""
    scope = user_scope()
    for code in codes:
        if not code.startswith(scope) and not scope.startswith(code):
            raise OutOfScope(f"region {code} is outside your jurisdiction")


def init_security(server: flask.Flask, city: City, hsts: bool) -> None:
    known = city  # `code in city`: a region the city has

    @server.before_request
    def scope_net():
        req = flask.request
        if is_public(req.path):
            return None
        for key in QUERY_KEYS:  # a region asked for in the URL: strictly inside the scope
            for v in req.args.getlist(key):
                require_region(v)
        codes: set[str] = set()
        if req.method == "POST" and req.path.startswith("/_dash"):
            if not (req.mimetype == "application/json"):
                flask.abort(415, "Dash callbacks are JSON")  # a cross-site form cannot post JSON without CORS
            origin = req.headers.get("Origin")
            if origin and origin.rstrip("/") != req.host_url.rstrip("/"):
                flask.abort(403, "cross-origin callback refused")
            body = req.get_json(silent=True) or {}
            items = []
            for x in body.get("inputs", []) + body.get("state", []):
                items += x if isinstance(x, list) else [x]  # grouped (pattern-matching) inputs are lists
            codes_in([[x.get("id"), x.get("value")] for x in items if isinstance(x, dict)], codes, known)
        if codes:
            check_codes(codes)
        return None

    @server.after_request
    def headers_and_exports(resp: flask.Response):
        h = resp.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "no-referrer")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if hsts:
            h.setdefault("Strict-Transport-Security", "max-age=31536000")
        if not flask.request.path.startswith(("/assets/", "/_dash-component-suites/")):
            h.setdefault("Cache-Control", "no-store")  # scoped data never lands in a shared cache
        disposition = h.get("Content-Disposition", "")
        if resp.status_code == 200 and "attachment" in disposition:
            audit("export", f"{flask.request.full_path[:300]} {disposition[:150]}")
        return resp
