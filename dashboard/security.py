"""Safety nets in front of every request (after sign-in): a Dash callback's body must have the shape
Dash sends (else HTTP 400), a client-given region in a query string or in a callback's inputs must be
inside the user's jurisdiction, exports are audited, and every response carries security headers.
The pages and callbacks also call dashboard/access.py themselves; these nets catch what a new
callback or route forgets. A department user (role department) has the phone only: any other page, route or
callback (the tablet, the wall, exports, the briefing, GeoJSON) is refused (403), as is a department code
outside its own in a query or a callback value. A wrong type that still reaches a callback (a number where its code
reads a mapping) raises TypeError, ValueError, KeyError...: inside a callback that is bad input, so
it is answered with a 400, never a 500 or a traceback to the client. Every refusal of a malformed
request is one log line, at most one per client and reason a minute (RefusalLog; one client cannot
flood the log), its traceback at DEBUG."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import flask
from dash.exceptions import DashException, PreventUpdate
from werkzeug.exceptions import BadRequest

from config.city import City
from dashboard.access import (
    BadInput,
    OutOfScope,
    department_scope,
    in_department_scope,
    require_department,
    require_region,
    user_scope,
)
from dashboard.auth import audit, client_address, is_public

log = logging.getLogger(__name__)
CALLBACK_PATH = "/_dash-update-component"
MAX_BODY_BYTES = 1 << 20  # a callback body is a few KB (the wall's map figure state the most); more is refused (413)
MAX_DEPTH = 64  # nesting of a callback body: Dash's envelope is 4 deep, a figure or component state a dozen more
# What a callback raises when a client-given value has a type its code does not expect.
INPUT_ERRORS = (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError, DashException)

# A region code as a whole string, or inside a URL or query string (?region=…, parent=…).
CODE_IN_QUERY = re.compile(r"(?:region|parent|code|grid)=(\d{4,15})")
QUERY_KEYS = ("region", "parent", "code", "grid", "grid_code")
# 条: what a department user may ask for (the phone, its map, and the sign-in machinery); ids of the outputs
# its callbacks may write (the phone's, and Dash pages' own), and the pages it may render.
DEPARTMENT_PATHS = {"/", "/small", "/small/map.svg", "/_dash-layout", "/_dash-dependencies", CALLBACK_PATH,
                    "/_reload-hash", "/logout"}
DEPARTMENT_OUTPUT_PREFIX = "small-"
SUPERVISE_OUTPUT = "-supervise-result"  # 督办 is a leader's (components/supervision_form.py): a department's staff sees it
PAGES_IDS = {"_pages_content", "_pages_store", "_pages_dummy"}
DEPARTMENT_PAGES = {"/", "/small"}
DEPT_IN_QUERY = re.compile(r"dept=([^&#\s]*)")

# Dash needs inline scripts (its config and renderer bootstrap) and inline styles (plotly); everything
# else stays on this origin. No framing (clickjacking), no referrer (a wall's URL may carry a token).
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


class RefusalLog:
    """Refusals of malformed requests as WARNING lines, at most one per (client, reason) every `every_s`
    seconds; the next line of that pair says how many were left out. The traceback, if any, at DEBUG.
    At most `max_pairs` pairs are remembered (the oldest forgotten first), so its memory is bounded."""

    def __init__(self, logger: logging.Logger, every_s: float = 60.0, max_pairs: int = 4096,
                 clock: Callable[[], float] = time.monotonic):
        self.logger, self.every_s, self.max_pairs, self.clock = logger, every_s, max_pairs, clock
        self.pairs: OrderedDict[tuple[str, str], list] = OrderedDict()  # (client, reason) -> [logged at, left out]
        self.lock = threading.Lock()

    def refused(self, client: str, reason: str, detail: str = "", exc: BaseException | None = None) -> None:
        now = self.clock()
        with self.lock:
            seen = self.pairs.get((client, reason))
            if seen is not None and now - seen[0] < self.every_s:
                seen[1] += 1
                left_out = -1
            else:
                left_out = seen[1] if seen else 0
                self.pairs[(client, reason)] = [now, 0]
                self.pairs.move_to_end((client, reason))
                while len(self.pairs) > self.max_pairs:
                    self.pairs.popitem(last=False)
        if left_out >= 0:
            self.logger.warning("refused %s from %s%s%s", reason, client, f": {detail}" if detail else "",
                                f" ({left_out} more like it in the last {self.every_s:.0f} s not logged)"
                                if left_out else "")
        if exc is not None and self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("refused %s from %s", reason, client, exc_info=exc)


def refusal(reason: str, detail: str = "", exc: BaseException | None = None) -> None:
    """Log this request's refusal (rate-limited per client and reason: RefusalLog)."""
    refusals: RefusalLog = flask.current_app.extensions["cockpit_refusals"]
    refusals.refused(client_address() or "-", reason, ascii(detail)[1:-1][:200], exc)  # a client's text, one line


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
            raise OutOfScope(f"region {code} is outside the jurisdiction {scope}")


def output_ids(body: dict) -> list[str]:
    """The id (a pattern id: its type) of each output of a callback body whose envelope callback_items checked."""
    outputs = body.get("outputs", [])
    flat = [o for group in (outputs if isinstance(outputs, list) else [outputs])
            for o in (group if isinstance(group, list) else [group])]
    return [o["id"] if isinstance(o["id"], str) else str(o["id"].get("type", "")) for o in flat]


def department_net(req: flask.Request, body, items: list[dict]) -> None:
    """A department user: the phone only (DEPARTMENT_PATHS; callbacks writing the phone's outputs, the pages
    callback rendering / or /small), and no department code but its own (and its sub-units) in a `dept`
    query or a callback value's URL; else OutOfScope (403, the fixed text)."""
    if req.path not in DEPARTMENT_PATHS:
        raise OutOfScope(f"{req.path[:80]} is not a department user's screen")
    for v in req.args.getlist("dept"):
        require_department(v)
    if req.path != CALLBACK_PATH or not isinstance(body, dict):
        return
    for oid in output_ids(body):
        if not (oid.startswith(DEPARTMENT_OUTPUT_PREFIX) or oid in PAGES_IDS) or oid.endswith(SUPERVISE_OUTPUT):
            raise OutOfScope(f"callback {oid[:60]} is not a department user's")
    for x in items:
        if x.get("id") == "_pages_location" and x.get("property") == "pathname" and \
                x.get("value") not in DEPARTMENT_PAGES:
            raise OutOfScope(f"page {str(x.get('value'))[:60]} is not a department user's")
    found: list[str] = []
    _dept_codes_in([x.get("value") for x in items], found)
    for code in found:
        if not in_department_scope(code):
            raise OutOfScope(f"department {code[:40]} is outside the department {department_scope()}")


def _dept_codes_in(value, found: list[str]) -> None:
    """Every `dept=` value in a URL query inside a callback value (percent-decoded)."""
    from urllib.parse import unquote

    if isinstance(value, str):
        found.extend(unquote(v) for v in DEPT_IN_QUERY.findall(value))
    elif isinstance(value, dict):
        for v in value.values():
            _dept_codes_in(v, found)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _dept_codes_in(v, found)


def too_deep(value, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded JSON value nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > limit:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


def callback_items(body) -> list[dict]:
    """The inputs and states of a Dash callback body whose envelope has the shape the renderer sends
    (output text, outputs, inputs/state lists of {id, property, value}, changedPropIds text); else BadInput."""
    if not isinstance(body, dict):
        raise BadInput("a callback body is a JSON object")
    if too_deep(body):
        raise BadInput("callback body nested too deeply")
    if not isinstance(body.get("output"), str):
        raise BadInput("callback output missing")
    outputs = body.get("outputs", [])
    outputs = outputs if isinstance(outputs, list) else [outputs]
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(x, str) for x in changed):
        raise BadInput("changedPropIds must be a list of text")
    items: list = []
    for key in ("inputs", "state"):
        group = body.get(key, [])
        if not isinstance(group, list):
            raise BadInput(f"callback {key} must be a list")
        for x in group:
            items += x if isinstance(x, list) else [x]  # grouped (pattern-matching) inputs are lists
    for x in items + [o for group in outputs for o in (group if isinstance(group, list) else [group])]:
        if not (isinstance(x, dict) and isinstance(x.get("id"), (str, dict)) and isinstance(x.get("property"), str)):
            raise BadInput("a callback input, state or output needs an id and a property")
    return items


def read_callback_body(req: flask.Request):
    """The JSON body of a callback (cached for Dash's own read), or BadInput when it cannot be decoded."""
    try:
        return req.get_json(silent=False)
    except BadRequest:
        raise BadInput("callback body is not valid JSON") from None
    except RecursionError:
        raise BadInput("callback body nested too deeply") from None


def init_security(server: flask.Flask, city: City, hsts: bool) -> None:
    known = city  # `code in city`: a region the city has
    server.extensions["cockpit_refusals"] = RefusalLog(log)
    server.config["MAX_CONTENT_LENGTH"] = server.config.get("MAX_CONTENT_LENGTH") or MAX_BODY_BYTES

    @server.before_request
    def scope_net():
        req = flask.request
        if is_public(req.path):
            return None
        for key in QUERY_KEYS:  # a region asked for in the URL: strictly inside the scope
            for v in req.args.getlist(key):
                require_region(v)
        codes: set[str] = set()
        items: list[dict] = []
        body = None
        if req.method == "POST" and req.path.startswith("/_dash"):
            if not (req.mimetype == "application/json"):
                refusal("callback not JSON (415)", req.mimetype)
                flask.abort(415, "Dash callbacks are JSON")  # a cross-site form cannot post JSON without CORS
            origin = req.headers.get("Origin")
            if origin and origin.rstrip("/") != req.host_url.rstrip("/"):
                refusal("cross-origin callback (403)", origin)
                flask.abort(403, "cross-origin callback refused")
            if req.path == CALLBACK_PATH:
                body = read_callback_body(req)
                items = callback_items(body)
            codes_in([[x.get("id"), x.get("value")] for x in items], codes, known)
        if codes:
            check_codes(codes)
        if department_scope():
            department_net(req, body, items)
        return None

    def bad_callback_input(exc: Exception):
        """Inside a callback, an input error is the client's: 400 and a refusal line (the traceback at DEBUG).
        Anywhere else it is ours: re-raised, so Flask logs it and answers 500."""
        if flask.request.path != CALLBACK_PATH or isinstance(exc, PreventUpdate):
            raise exc
        body = flask.request.get_json(silent=True)
        output = body.get("output") if isinstance(body, dict) else None
        refusal(f"bad callback input ({type(exc).__name__}) (400)", f"for {output}", exc)
        return flask.jsonify(error="bad request", detail="malformed callback input"), 400

    for error in INPUT_ERRORS:
        server.register_error_handler(error, bad_callback_input)

    @server.errorhandler(BadInput)
    def bad_input(exc: BadInput):
        refusal("bad input (400)", f"{flask.request.path[:80]}: {exc.description}")
        return flask.jsonify(error="bad request", detail=exc.description), 400

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
