"""Who may see what: the one gate every page, callback, export and route passes a client-given region
or event through. Until sign-in exists (issue 5) everyone sees the whole city and no personal data;
issue 5 replaces the bodies, never the names, so callers stay as they are."""

from __future__ import annotations

from werkzeug.exceptions import Forbidden


class OutOfScope(Forbidden):
    """The current user asked for a region or event outside their jurisdiction (HTTP 403)."""


def user_scope() -> str:
    """The region code the current user may see, with everything below it (a code-prefix match).
    Screens whose root is "the whole area" (the wall, the phone home) start from this region."""
    from dashboard.context import cockpit

    return cockpit().city.code


def require_region(code: str) -> str:
    """`code` if the current user may see that region, else raise OutOfScope."""
    if not code.startswith(user_scope()):
        raise OutOfScope(f"region {code} is outside your jurisdiction")
    return code


def require_grid_code(grid_code: str) -> str:
    """For a single event or row: its grid must be inside the user's scope, else OutOfScope."""
    return require_region(grid_code)


def may_see_personal() -> bool:
    """Whether the current user may see reporter name, phone and exact address."""
    return False
