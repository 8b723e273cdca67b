"""Manage who may sign in: `python -m dashboard.users COMMAND …` against COCKPIT_APP_DB_URL.

    add NAME --role ROLE --region CODE   new user; the password is asked for (or read from stdin with --password-stdin)
        [--department CODE]              role department: its code in the city's departments.csv (its sub-units too)
    disable NAME / enable NAME           a disabled user's sessions end on their next request
    token NAME --region CODE             new wall-display token (printed once; open /big?token=…)
    revoke NAME                          revoke a display token: its walls are signed out on their next request
    list                                 users and tokens
    audit [--action A] [--last N]        the audit log (sign-ins, refusals, exports)
    migrate                              bring the app database to the newest schema (every start does too)
"""

from __future__ import annotations

import argparse
import getpass
import sys

from config.city import CityConfigError, load_city
from config.departments import DepartmentCatalogueError, load_departments
from config.settings import SettingsError, load_settings
from dashboard.user_store import HUMAN_ROLES, UserStore, UserStoreError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard.users", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=HUMAN_ROLES)
    add.add_argument("--region", required=True, help="region code of the jurisdiction (city 3201, district 320102 …)")
    add.add_argument("--department", default="",
                     help="role department: the department's code in the city's departments.csv (CG, CG320102 …)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for name in ("disable", "enable", "revoke"):
        sub.add_parser(name).add_argument("name")
    tok = sub.add_parser("token", help="new wall-display token bound to a region")
    tok.add_argument("name")
    tok.add_argument("--region", required=True)
    sub.add_parser("list")
    sub.add_parser("migrate")
    aud = sub.add_parser("audit")
    aud.add_argument("--action")
    aud.add_argument("--last", type=int, default=50)
    return p


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise UserStoreError("the two passwords differ")
    return first


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
        store = UserStore(settings.app_db_url)
        city = load_city(settings.city_dir)
        if args.command == "add":
            catalogue = load_departments(city.folder) if args.role == "department" or args.department else None
            p = store.add_user(args.name, read_password(args.password_stdin), args.role, args.region, city,
                               args.department, catalogue)
            print(f"added {p.name}: {p.role} of {p.region}" + (f", department {p.department}" if p.department else ""))
        elif args.command in ("disable", "enable"):
            store.set_active(args.name, args.command == "enable")
            print(f"{args.command}d {args.name}")
        elif args.command == "token":
            token = store.add_token(args.name, args.region, city)
            print(f"display token {args.name} for {args.region} (shown once): {token}\nopen: /big?token={token}")
        elif args.command == "revoke":
            store.revoke_token(args.name)
            print(f"revoked {args.name}")
        elif args.command == "migrate":
            from dashboard.migrations import current

            print(f"app database at revision {current(store.engine)}")  # the store upgraded it on opening
        elif args.command == "list":
            for u in store.users():
                print(f"user  {u.name:<20} {u.role:<10} {u.region:<16} {'active' if u.active else 'disabled'}"
                      + (f"  department {u.department}" if u.department else ""))
            for t in store.tokens():
                print(f"token {t.name:<20} {'wall':<10} {t.region:<16} {'active' if t.active else 'revoked'}")
        elif args.command == "audit":
            for row in store.audit_rows(args.action)[-args.last:]:
                print(f"{row.at:%Y-%m-%d %H:%M:%S} {row.who:<24} {row.action:<15} {row.address:<15} {row.detail}")
    except (SettingsError, CityConfigError, DepartmentCatalogueError, UserStoreError) as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
