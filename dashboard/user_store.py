"""The app database: users (argon2-hashed passwords), their role and jurisdiction (a region code; for a
department user also a department code of the city's catalogue, config/departments.py), revocable wall-display tokens and the audit log. Any SQLAlchemy URL (SQLite by default, PostgreSQL,
MySQL); the schema is brought to the newest migration on start (dashboard/migrations), and audit rows
older than COCKPIT_AUDIT_KEEP_DAYS are deleted by `prune_audit` (daily, where the ETL runs)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from config import region_codes
from config.region_codes import LEVELS

# role -> (region levels it may be bound to, may see personal data). City totals are seen only by
# whoever is bound to the city code itself (scope is a code prefix). See README "Roles".
ROLES = {
    "city": (("city",), False),
    "district": (("district",), False),
    "street": (("street",), True),
    "grid": (("community", "grid"), True),  # community or grid staff
    # 条: a department's staff (城管局 city-wide, or 玄武区城管 within a district): its own cases only, which it
    # handles, so with their addresses; never a region's totals (dashboard/access.py department_scope)
    "department": (("city", "district", "street"), True),
    "wall": (LEVELS, False),  # display tokens only, never a password
}
HUMAN_ROLES = ("city", "district", "street", "grid", "department")
_hasher = PasswordHasher()


class UserStoreError(ValueError):
    """A user command was wrong (unknown role, region, user); the message says which."""


class AppBase(DeclarativeBase):
    pass


class UserRow(AppBase):
    __tablename__ = "cockpit_users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    region: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # role department: the department's code (it and its sub-units: a code prefix); '' for every other role
    department: Mapped[str] = mapped_column(String(32), default="", server_default="")


class DisplayTokenRow(AppBase):
    __tablename__ = "cockpit_display_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # the token itself is never stored
    region: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(AppBase):
    __tablename__ = "cockpit_audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    who: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("cockpit_users.id"), nullable=True)


@dataclass(frozen=True)
class Principal:
    """Who is signed in: a user (kind 'u') or a wall display bound to a token (kind 't')."""

    kind: str
    id: int
    name: str
    role: str
    region: str
    department: str = ""  # role department: its code (it and its sub-units); '' otherwise

    @property
    def key(self) -> str:
        return f"{self.kind}{self.id}"


def _now() -> datetime:
    return datetime.now(UTC)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    def __init__(self, url_or_engine: str | Engine):
        from dashboard.migrations import upgrade
        from etl.source.schema import writable_engine  # the product's own database (SQLite folder created, pre-ping)

        self.engine = writable_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        upgrade(self.engine)

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, password: str, role: str, region: str, city=None, department: str = "",
                 catalogue=None) -> Principal:
        """A new user; role department needs `department`, a code of `catalogue` (config/departments.py
        Departments) when given (the command passes the city folder's)."""
        check_role_region(role, region, city)
        check_role_department(role, department, catalogue)
        if role == "wall":
            raise UserStoreError("role wall signs in with a display token (the `token` command), not a password")
        if len(password) < 8:
            raise UserStoreError(f"password of {name!r} too short: at least 8 characters")
        with Session(self.engine) as s, s.begin():
            if s.scalar(select(UserRow).where(UserRow.name == name)):
                raise UserStoreError(f"user {name!r} exists already")
            row = UserRow(name=name, password_hash=_hasher.hash(password), role=role, region=region,
                          active=True, created_at=_now(), department=department or "")
            s.add(row)
            s.flush()
            return user_principal(row)

    def set_active(self, name: str, active: bool) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise UserStoreError(f"no user named {name!r}")
            row.active = active

    def check_password(self, name: str, password: str) -> Principal | None:
        """The user if the name exists, is active and the password matches; else None."""
        with Session(self.engine) as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None or not row.active:
                _hasher.hash(password)  # same cost either way: no timing hint that the name exists
                return None
            try:
                _hasher.verify(row.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            return user_principal(row)

    def users(self) -> list[UserRow]:
        with Session(self.engine) as s:
            return list(s.scalars(select(UserRow).order_by(UserRow.name)))

    # ----------------------------------------------------------------- tokens
    def add_token(self, name: str, region: str, city=None) -> str:
        """A new display token bound to `region`; returned once, only its SHA-256 is stored."""
        check_role_region("wall", region, city)
        token = secrets.token_urlsafe(24)
        with Session(self.engine) as s, s.begin():
            if s.scalar(select(DisplayTokenRow).where(DisplayTokenRow.name == name)):
                raise UserStoreError(f"display token {name!r} exists already")
            s.add(DisplayTokenRow(name=name, token_sha256=token_digest(token), region=region, active=True,
                                  created_at=_now()))
        return token

    def set_token(self, name: str, token: str, region: str, city=None) -> None:
        """Create (or reset) a display token with a known value: the demo's documented wall token."""
        check_role_region("wall", region, city)
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(DisplayTokenRow).where(DisplayTokenRow.name == name))
            if row is None:
                s.add(DisplayTokenRow(name=name, token_sha256=token_digest(token), region=region, active=True,
                                      created_at=_now()))
            else:
                row.token_sha256, row.region, row.active = token_digest(token), region, True

    def revoke_token(self, name: str) -> None:
        with Session(self.engine) as s, s.begin():
            row = s.scalar(select(DisplayTokenRow).where(DisplayTokenRow.name == name))
            if row is None:
                raise UserStoreError(f"no display token named {name!r}")
            row.active = False

    def check_token(self, token: str) -> Principal | None:
        with Session(self.engine) as s:
            row = s.scalar(select(DisplayTokenRow).where(DisplayTokenRow.token_sha256 == token_digest(token)))
            if row is None or not row.active:
                return None
            return Principal("t", row.id, row.name, "wall", row.region)

    def tokens(self) -> list[DisplayTokenRow]:
        with Session(self.engine) as s:
            return list(s.scalars(select(DisplayTokenRow).order_by(DisplayTokenRow.name)))

    # -------------------------------------------------------------- sessions
    def load(self, key: str) -> Principal | None:
        """The principal of a session key ('u12', 't3') if still active (disabled/revoked: None)."""
        kind, num = key[:1], key[1:]
        if kind not in ("u", "t") or not num.isdigit():
            return None
        with Session(self.engine) as s:
            if kind == "u":
                row = s.get(UserRow, int(num))
                return user_principal(row) if row and row.active else None
            token = s.get(DisplayTokenRow, int(num))
            return Principal("t", token.id, token.name, "wall", token.region) if token and token.active else None

    # ------------------------------------------------------------------ audit
    def audit(self, who: str, action: str, detail: str = "", address: str = "", user_id: int | None = None) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(AuditRow(at=_now(), who=who[:80], action=action, detail=detail[:500], address=address[:64],
                           user_id=user_id))

    def prune_audit(self, keep_days: float, now: datetime | None = None) -> int:
        """Delete audit rows older than keep_days; how many went."""
        cutoff = (now or _now()) - timedelta(days=keep_days)
        with Session(self.engine) as s, s.begin():
            return int(s.execute(delete(AuditRow).where(AuditRow.at < cutoff)).rowcount)  # type: ignore[attr-defined]

    def audit_rows(self, action: str | None = None) -> list[AuditRow]:
        with Session(self.engine) as s:
            q = select(AuditRow).order_by(AuditRow.id)
            if action:
                q = q.where(AuditRow.action == action)
            return list(s.scalars(q))


def user_principal(row: UserRow) -> Principal:
    return Principal("u", row.id, row.name, row.role, row.region, row.department or "")


def check_role_department(role: str, department: str | None, catalogue=None) -> None:
    """Role department needs a department code (of the catalogue, when given); no other role takes one."""
    if role != "department":
        if department:
            raise UserStoreError(f"role {role!r} takes no department (only role 'department' does)")
        return
    if not department:
        raise UserStoreError("role 'department' needs --department CODE (a code of the city's departments.csv)")
    if catalogue is not None and department not in catalogue:
        where = f" ({catalogue.path})" if getattr(catalogue, "path", None) else ""
        raise UserStoreError(f"unknown department {department!r}: not in the city's department catalogue{where}")


def check_role_region(role: str, region: str, city=None) -> None:
    if role not in ROLES:
        raise UserStoreError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    levels = ROLES[role][0]
    if not region_codes.is_code(region) or region_codes.level_of(region) not in levels:
        digits = " or ".join(str(region_codes.CODE_LENGTH[level]) for level in levels)
        raise UserStoreError(f"region {region!r} does not fit role {role!r} (a code of {digits} digits)")
    if city is not None and region not in city:
        raise UserStoreError(f"region {region!r} is not in the city model {city.code}")
