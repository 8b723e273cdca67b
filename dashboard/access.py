"""Who may see what: the one gate every page, callback, export and route passes a client-given region
or event through. The signed-in principal (dashboard/auth.py) carries a role and a jurisdiction, a
region code; scope is that code as a prefix: the region and everything below it. A department user (条,
role department) also carries a department code: its scope is that department and its sub-units (a code
prefix, as config/departments.py numbers them) within the region, so it sees that department's cases and
figures only, never a region's totals (dashboard/security.py keeps it to the phone). Everything here
runs on the server for every request; nothing relies on the browser hiding things."""

from __future__ import annotations

import re

import flask
from werkzeug.exceptions import BadRequest, Forbidden, Unauthorized

from config.labels import label
from dashboard.user_store import ROLES, Principal


class OutOfScope(Forbidden):
    """The current user asked for a region or event outside their jurisdiction (HTTP 403). The client
    is told only that it is refused, in a fixed text: saying which region an event id lies in would let
    anyone map ids to grids. `detail` (what was asked, which region) is for the audit log only."""

    def __init__(self, detail: str = ""):
        super().__init__(label("out_of_scope"))
        self.detail = detail


class BadInput(BadRequest):
    """A client-given value of the wrong type or shape (a dict or a number where a region code
    belongs, a malformed callback body): HTTP 400 with a short message, never a 500."""


class NotSignedIn(Unauthorized):
    """No signed-in session (HTTP 401)."""


def current_principal() -> Principal:
    """The signed-in user or wall display of this request; NotSignedIn if there is none."""
    if not flask.has_request_context():
        raise NotSignedIn("no request: nobody is signed in")
    from flask_login import current_user

    if not current_user or not current_user.is_authenticated:
        raise NotSignedIn("sign in first")
    return current_user.principal


def user_scope() -> str:
    """The region code the current user may see, with everything below it (a code-prefix match).
    Screens whose root is "the whole area" (the wall, the phone home) start from this region."""
    return current_principal().region


def department_scope() -> str:
    """The department code the current user is bound to (role department: it and its sub-units), '' for the
    other roles (who see every department of their region)."""
    return current_principal().department


def in_department_scope(code: str | None) -> bool:
    """Whether a case's department code (the catalogue's code; '' for 未归属) lies in the user's department scope."""
    scope = department_scope()
    return not scope or bool(code) and str(code).startswith(scope)


def require_department(code) -> str:
    """`code` if it is the user's department or one of its sub-units (anyone else: any code), else OutOfScope."""
    code = require_text(code, "a department code") or ""
    if not in_department_scope(code):
        raise OutOfScope(f"department {code[:40]} is outside the department {department_scope()}")
    return code


def require_department_event(event_id: str) -> None:
    """For a department user: the event must be one of its department's cases now (open or at risk, in the
    published snapshot), else OutOfScope; "unknown" and "another department's" look the same. Others: no-op."""
    if not department_scope():
        return
    from dashboard.context import cockpit
    from queries import department_views

    if not department_views.is_case_of(cockpit().snapshot(), department_scope(), user_scope(), event_id):
        raise OutOfScope(f"event {str(event_id)[:64]} is not a case of the department {department_scope()}")


def require_region(code: str | None) -> str:
    """`code` if the current user may see that region, else raise OutOfScope (BadInput if it is not text)."""
    code = require_text(code, "a region code") or ""
    if not code or not code.startswith(user_scope()):
        raise OutOfScope(f"region {code[:40]} is outside the jurisdiction {user_scope()}")
    return code


def require_text(value, what: str = "a value") -> str | None:
    """`value` if it is None or a string; anything else a client sent (a dict, a number, a list) is BadInput."""
    if value is None or isinstance(value, str):
        return value
    raise BadInput(f"{what} must be text")


def require_fields(state, keys: tuple[str, ...], what: str = "the view state") -> dict[str, str | None]:
    """A client-given view state: a mapping whose `keys` are each text or absent (BadInput otherwise)."""
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise BadInput(f"{what} must be an object")
    return {k: require_text(state.get(k), f"{what}'s {k}") for k in keys}


def require_grid_code(grid_code: str) -> str:
    """For a single event or row: its grid must be inside the user's scope, else OutOfScope."""
    return require_region(grid_code)


def may_see_city_totals() -> bool:
    """City-wide figures only for whoever is bound to the city itself (the city role, a city wall); never a
    department user (its scope is one department's cases, even city-wide)."""
    from dashboard.context import cockpit

    return not department_scope() and user_scope() == cockpit().city.code


def may_see_personal() -> bool:
    """Whether the current user may see reporter name, phone and exact address (README "Roles")."""
    return ROLES[current_principal().role][1]


def mask_name(name: str | None) -> str:
    """张三丰 -> 张**, unless the user may see personal data."""
    if not name or may_see_personal():
        return name or ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678, unless the user may see personal data."""
    if not phone or may_see_personal():
        return phone or ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def mask_address(address: str | None) -> str:
    """Only the road name before the first digit (never the number), unless the user may see personal data."""
    if not address or may_see_personal():
        return address or ""
    return re.split(r"\d", address, maxsplit=1)[0][:8] + "…"
