"""Sign-in for the whole product: Flask-Login sessions (users from the app database, argon2 hashes),
a sign-in form with a CSRF token (Flask-WTF), failed sign-ins rate limited (Flask-Limiter, stored in
the same Redis), wall displays signed in by a revocable token (`/big?token=…`), and one guard in
front of every request: no session, no page, callback, GeoJSON, export or API."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import flask
import redis
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from limits import parse as parse_limit
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from config.labels import label
from config.settings import Settings, SettingsError
from contract.keys import Keys
from dashboard.access import NotSignedIn, OutOfScope
from dashboard.user_store import Principal, UserStore

# Paths anyone may fetch: the sign-in page, static code and styles (no data), and the public health line.
PUBLIC_PREFIXES = ("/login", "/assets/", "/_dash-component-suites/", "/_favicon.ico", "/favicon.ico")
PUBLIC_EXACT = {"/health", "/metrics"}  # /metrics checks its own access (dashboard/metrics.py)


def is_public(path: str) -> bool:
    """Paths served without a session: the sign-in page, static code and styles, the minimal /health."""
    return path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_EXACT


class SignedIn(UserMixin):
    def __init__(self, principal: Principal):
        self.principal = principal

    def get_id(self) -> str:
        return self.principal.key


class SignInForm(FlaskForm):
    # the page shows label("username") / label("password") itself: a label here would be fixed at import,
    # before the app factory sets the language
    username = StringField(validators=[DataRequired(), Length(max=64)])
    password = PasswordField(validators=[DataRequired(), Length(max=256)])


class SignOutForm(FlaskForm):
    pass


SIGNIN_PAGE = """<!doctype html><html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }}</title>
<link rel="stylesheet" href="/assets/cockpit.css"></head>
<body class="signin-body"><main class="signin">
<h1>{{ app_title }}</h1><h2>{{ title }}</h2>
{% if message %}<p class="signin-error" role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/login{{ query }}" autocomplete="on">
{{ form.csrf_token }}
<label>{{ username_label }}<input name="username" autocomplete="username" required
 value="{{ form.username.data or '' }}" autocapitalize="off"></label>
<label>{{ password_label }}<input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">{{ title }}</button></form></main></body></html>"""


def secret_key(settings: Settings) -> str:
    """COCKPIT_SECRET_KEY, required outside the demo (the demo runs with a random one per start)."""
    if settings.secret_key:
        if len(settings.secret_key) < 16:
            raise SettingsError("setting COCKPIT_SECRET_KEY: at least 16 characters")
        return settings.secret_key
    if settings.simulate:
        return secrets.token_hex(32)
    raise SettingsError("setting COCKPIT_SECRET_KEY is required outside the demo: set it to a long random "
                        "string, the same on every web process (python3 -c 'import secrets; print(secrets.token_hex(32))')")


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme), else the start page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def client_address() -> str:
    return get_remote_address() or ""


def audit(action: str, detail: str = "", who: str | None = None) -> None:
    """One audit row for this request: who (the signed-in principal unless given), what, from where."""
    store = auth_context().store
    principal = current_user.principal if current_user and current_user.is_authenticated else None
    store.audit(who or (f"{principal.role}:{principal.name}" if principal else "-"), action, detail,
                client_address(), principal.id if principal and principal.kind == "u" else None)


@dataclass(frozen=True)
class AuthContext:
    """What the sign-in views need from the app they serve: the user store and the session's length."""
    store: UserStore
    session_s: float


def auth_context() -> AuthContext:
    return flask.current_app.extensions["cockpit_auth"]


def init_auth(server: flask.Flask, settings: Settings, store: UserStore, client: redis.Redis) -> None:
    """Sessions, the sign-in limits and the guard (the `auth` blueprint below) on `server`."""
    server.config.update(
        SECRET_KEY=secret_key(settings), COCKPIT_USERS=store,
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure and not settings.simulate,
        SESSION_COOKIE_NAME="cockpit_session", PERMANENT_SESSION_LIFETIME=settings.session_minutes * 60,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session that carries it
    )
    try:
        parse_limit(settings.signin_limit)
    except ValueError as exc:
        raise SettingsError(f"setting COCKPIT_SIGNIN_LIMIT: {exc}") from None
    server.extensions["cockpit_auth"] = AuthContext(store, settings.session_minutes * 60)
    LoginManager(server).user_loader(load_user)
    limiter = Limiter(client_address, app=server, storage_uri="redis://",
                      # the hint says str | int values; limits takes a connection pool (shares the app's Redis)
                      storage_options={"connection_pool": client.connection_pool},  # type: ignore[dict-item]
                      key_prefix=Keys(settings.redis_prefix).signin_limits, swallow_errors=True,
                      in_memory_fallback_enabled=True, headers_enabled=False)
    # failed sign-ins (401) counted per address and per name, on this app's limiter (the blueprint is shared)
    for key_func in (None, by_name):
        limiter.limit(settings.signin_limit, methods=["POST"], deduct_when=failed, key_func=key_func,
                      exempt_when=not_signin)(bp)
    server.register_blueprint(bp)  # after the limiter: its check runs before the guard, as it always did


def load_user(key: str) -> SignedIn | None:
    p = auth_context().store.load(key)  # a disabled user or a revoked token: None, so the session ends here
    return SignedIn(p) if p else None


def failed(resp: flask.Response) -> bool:
    return resp.status_code == 401


def by_name() -> str:
    return "name:" + (flask.request.form.get("username") or "")[:64]


def not_signin() -> bool:
    return flask.request.endpoint != "auth.login"


def start_session(principal: Principal) -> None:
    flask.session.clear()  # a fresh session on sign-in (no fixation)
    flask.session.permanent = True
    login_user(SignedIn(principal))
    flask.session["signed_in_at"] = time.time()


def signin_page(form, message: str = "", status: int = 200) -> flask.Response:
    query = ("?" + urlencode({"next": flask.request.args["next"]})) if flask.request.args.get("next") else ""
    html = flask.render_template_string(SIGNIN_PAGE, form=form, message=message, query=query,
                                        title=label("signin"), app_title=label("app_title"), lang=label("html_lang"),
                                        username_label=label("username"), password_label=label("password"))
    return flask.Response(html, status=status, mimetype="text/html")


bp = flask.Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = SignInForm()
    if flask.request.method == "GET":
        return signin_page(form)
    if not form.validate_on_submit():
        return signin_page(form, label("signin_invalid_form"), 400)
    principal = auth_context().store.check_password(form.username.data, form.password.data)
    if principal is None:
        audit("signin_failed", "", who=form.username.data[:64])
        return signin_page(form, label("signin_failed"), 401)
    start_session(principal)
    audit("signin")
    return flask.redirect(safe_next(flask.request.args.get("next")))


@bp.post("/logout")
def logout():
    SignOutForm().validate_on_submit() or flask.abort(400, "CSRF token missing or wrong")
    if current_user.is_authenticated:
        audit("signout")
    logout_user()
    flask.session.clear()
    return flask.redirect("/login")


@bp.app_errorhandler(RateLimitExceeded)
def limited(_exc):
    audit("signin_limited", "", who=(flask.request.form.get("username") or "-")[:64])
    return signin_page(SignInForm(), label("signin_limited"), 429)


@bp.app_errorhandler(CSRFError)
def csrf_failed(exc):
    return signin_page(SignInForm(), label("signin_invalid_form"), 400) if flask.request.path == "/login" \
        else (str(exc.description), 400)


@bp.before_app_request
def guard():
    """No session, no page, callback, GeoJSON, export or API (a wall's ?token= signs it in first)."""
    req = flask.request
    if is_public(req.path):
        return None
    store = auth_context().store
    token = req.args.get("token")
    if token:
        principal = store.check_token(token)
        if principal is None:
            store.audit("-", "token_failed", req.path, client_address())
            return flask.Response(label("token_invalid"), status=403, mimetype="text/plain")
        start_session(principal)
        audit("token_signin", principal.name)
        rest = [(k, v) for k, v in req.args.items(multi=True) if k != "token"]
        return flask.redirect(req.path + ("?" + urlencode(rest) if rest else ""))  # keep the token out of history
    if current_user.is_authenticated:
        p = current_user.principal
        if p.kind == "u" and time.time() - flask.session.get("signed_in_at", 0) > auth_context().session_s:
            audit("session_expired")
            logout_user()
            flask.session.clear()
        else:
            return None
    if req.method == "GET" and not req.path.startswith(("/_dash", "/geo/")) and \
            "text/html" in req.headers.get("Accept", ""):
        full = req.full_path if req.query_string else req.path
        return flask.redirect("/login?" + urlencode({"next": full}))
    raise NotSignedIn("sign in first")


@bp.app_errorhandler(NotSignedIn)
def not_signed_in(exc):
    return flask.jsonify(error="not signed in", detail=exc.description), 401


@bp.app_errorhandler(OutOfScope)
def out_of_scope(exc):
    # the audit row says what was asked and why it was refused; the client only that it was (a fixed text)
    audit("denied", f"{flask.request.method} {flask.request.full_path[:200]}: {exc.detail}"[:500])
    if "text/html" in flask.request.headers.get("Accept", "") and flask.request.method == "GET":
        return flask.Response(exc.description, status=403, mimetype="text/plain")
    return flask.jsonify(error="out of scope", detail=exc.description), 403
