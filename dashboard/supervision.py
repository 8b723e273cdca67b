"""Supervision (督办 / 催办): a leader marks a case with a note, a level and a new deadline; it is kept in the
app database and, if a channel is configured, delivered to the city's system, idempotently.

Channels (COCKPIT_SUPERVISION_CHANNEL): `none` (the default) delivers nothing: the product reads a city's
systems read-only and writes nothing to them, so a supervision is stored and shown, its delivery shown as
not configured (送达未配置), and delivered if a channel is configured later. `outbox` writes one row per
supervision to the table `cockpit_supervision_outbox` in the database COCKPIT_SUPERVISION_OUTBOX_URL names
(an explicit write grant of the city, never the source's read-only account), which the city's system reads
and acknowledges by setting `acknowledged_at`; `webhook` POSTs the supervision as JSON to COCKPIT_SUPERVISION_WEBHOOK (an
intranet address) with the supervision id as `Idempotency-Key`; a 2xx answer is delivery, and a body
`{"acknowledged": true}` also acknowledgement. A delivery that fails is retried with backoff (5 s
doubling to 10 min) for as long as it takes; its state says so: pending → delivered → acknowledged, or
failed with the reason (and still retried). Every process may run `deliver_due`: a row is claimed with an
atomic UPDATE first, so two processes never send the same supervision at once, and the id makes a
repeated send harmless."""

from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from dashboard.user_store import AppBase

log = logging.getLogger(__name__)

LEVELS = ("urge", "supervise", "listed")  # 催办 / 督办 / 挂牌督办 (labels: supervision_level_*)
STATES = ("pending", "delivered", "acknowledged", "failed")
FIRST_RETRY_S, MAX_RETRY_S, CLAIM_S = 5.0, 600.0, 60.0
NOTE_MAX = 500


class SupervisionError(ValueError):
    """A supervision request was wrong (level, note, deadline); the message says which."""


class SupervisionRow(AppBase):
    __tablename__ = "cockpit_supervisions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    grid_code: Mapped[str] = mapped_column(String(16), index=True)
    level: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(NOTE_MAX))
    new_due_at: Mapped[datetime] = mapped_column(DateTime)  # the city's local time, like the source's
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


OUTBOX = Table("cockpit_supervision_outbox", MetaData(),
               Column("supervision_id", String(36), primary_key=True), Column("event_id", String(64), index=True),
               Column("level", String(16)), Column("note", String(NOTE_MAX)), Column("new_due_at", DateTime),
               Column("created_by", String(80)), Column("created_at", DateTime), Column("payload", Text),
               Column("acknowledged_at", DateTime, nullable=True))


@dataclass(frozen=True)
class Supervision:
    id: str
    event_id: str
    grid_code: str
    level: str
    note: str
    new_due_at: datetime
    created_by: str
    created_at: datetime
    state: str
    attempts: int
    last_error: str

    def payload(self, tz: str = "Asia/Shanghai") -> dict:
        """The supervision as sent: every time ISO 8601 with its offset (new_due_at is the city's local time,
        `tz`; created_at UTC), so the city's system need not guess."""
        return {"supervision_id": self.id, "event_id": self.event_id, "level": self.level, "note": self.note,
                "new_due_at": local_iso(self.new_due_at, tz), "created_by": self.created_by,
                "created_at": self.created_at.isoformat()}


def local_iso(t: datetime, tz: str) -> str:
    """A naive local time of the city (time zone `tz`) as ISO 8601 with its offset: 2026-11-20T16:00:00+08:00."""
    from zoneinfo import ZoneInfo

    return (t if t.tzinfo else t.replace(tzinfo=ZoneInfo(tz))).isoformat()


def delivery_channel(settings, tz: str = "Asia/Shanghai"):
    """The channel COCKPIT_SUPERVISION_CHANNEL names (None for none), sending times with the offset of the city's
    time zone `tz`; SettingsError when its setting is missing."""
    from config.settings import SettingsError
    from etl.source.schema import writable_engine

    if settings.supervision_channel == "webhook":
        if not settings.supervision_webhook:
            raise SettingsError("COCKPIT_SUPERVISION_WEBHOOK is required when COCKPIT_SUPERVISION_CHANNEL is webhook")
        return WebhookChannel(settings.supervision_webhook, tz=tz)
    if settings.supervision_channel == "outbox":
        if not settings.supervision_outbox_url:
            raise SettingsError("COCKPIT_SUPERVISION_OUTBOX_URL is required when COCKPIT_SUPERVISION_CHANNEL is outbox "
                                "(a database the city gives write access to for the outbox alone)")
        return OutboxChannel(writable_engine(settings.supervision_outbox_url), tz=tz)
    return None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)  # SQLite returns naive datetimes


def _plain(row: SupervisionRow) -> Supervision:
    return Supervision(row.id, row.event_id, row.grid_code, row.level, row.note, row.new_due_at, row.created_by,
                       _aware(row.created_at), row.state, row.attempts, row.last_error)


class SupervisionStore:
    def __init__(self, engine: Engine):
        from dashboard.migrations import upgrade

        self.engine = engine
        upgrade(engine)  # the table is revision 0002 of the app database (dashboard/migrations)

    def create(self, event_id: str, grid_code: str, level: str, note: str, new_due_at: datetime, who: str) -> Supervision:
        """A new supervision, pending delivery (its id is the idempotency key downstream)."""
        if level not in LEVELS:
            raise SupervisionError(f"level {level!r}: one of {', '.join(LEVELS)}")
        note = (note or "").strip()
        if not note or len(note) > NOTE_MAX:
            raise SupervisionError(f"note: 1 to {NOTE_MAX} characters")
        now = _now()
        row = SupervisionRow(id=str(uuid.uuid4()), event_id=event_id, grid_code=grid_code, level=level, note=note,
                             new_due_at=new_due_at.replace(tzinfo=None), created_by=who, created_at=now,
                             state="pending", attempts=0, last_error="", next_attempt_at=now)
        with Session(self.engine) as s, s.begin():
            s.add(row)
            s.flush()
            return _plain(row)

    def get(self, sid: str) -> Supervision | None:
        with Session(self.engine) as s:
            row = s.get(SupervisionRow, sid)
            return _plain(row) if row else None

    def under(self, prefix: str) -> list[Supervision]:
        """Every supervision of the events whose grid is under a region, newest first."""
        with Session(self.engine) as s:
            q = select(SupervisionRow).where(SupervisionRow.grid_code.startswith(prefix, autoescape=True)) \
                .order_by(SupervisionRow.created_at.desc())
            return [_plain(r) for r in s.scalars(q)]

    def all(self) -> list[Supervision]:
        return self.under("")

    def ids_in_state(self, state: str) -> list[str]:
        with Session(self.engine) as s:
            return list(s.scalars(select(SupervisionRow.id).where(SupervisionRow.state == state)))

    def claim_due(self, now: datetime | None = None, limit: int = 100) -> list[Supervision]:
        """Supervisions due for a (re)send, each claimed for CLAIM_S so no other process sends it meanwhile."""
        now = now or _now()
        out = []
        with Session(self.engine) as s:
            ids = s.scalars(select(SupervisionRow.id).where(SupervisionRow.state.in_(("pending", "failed")),
                                                            SupervisionRow.next_attempt_at <= now).limit(limit)).all()
            for sid in ids:
                claimed = s.execute(update(SupervisionRow).where(
                    SupervisionRow.id == sid, SupervisionRow.next_attempt_at <= now,
                    SupervisionRow.state.in_(("pending", "failed"))).values(
                    next_attempt_at=now + timedelta(seconds=CLAIM_S)))
                s.commit()
                row = s.get(SupervisionRow, sid)
                if cast(CursorResult, claimed).rowcount == 1 and row is not None:
                    out.append(_plain(row))
        return out

    def mark(self, sid: str, state: str, error: str = "", now: datetime | None = None) -> None:
        now = now or _now()
        with Session(self.engine) as s, s.begin():
            row = s.get(SupervisionRow, sid)
            if row is None or row.state == "acknowledged":
                return
            row.attempts += 1 if state in ("delivered", "acknowledged", "failed") else 0
            if state == "failed":
                wait = min(MAX_RETRY_S, FIRST_RETRY_S * 2 ** max(row.attempts - 1, 0))
                row.state, row.last_error, row.next_attempt_at = "failed", error[:300], now + timedelta(seconds=wait)
            else:
                row.state, row.last_error = state, ""
                row.delivered_at = row.delivered_at or now
                if state == "acknowledged":
                    row.acknowledged_at = now

    def acknowledge(self, sid: str) -> None:
        self.mark(sid, "acknowledged")


class OutboxChannel:
    """Rows in `cockpit_supervision_outbox` of the outbox database (COCKPIT_SUPERVISION_OUTBOX_URL); the city's
    system acknowledges a row by setting its acknowledged_at. Times: the columns hold naive local times of the
    city (new_due_at, like the source's) and UTC (created_at, acknowledged_at); the payload says both with
    their offsets."""

    def __init__(self, source: Engine, tz: str = "Asia/Shanghai"):
        self.source, self.tz = source, tz
        OUTBOX.metadata.create_all(source)  # checks first: a city that created the table need not grant CREATE

    def send(self, sup: Supervision) -> str:
        with self.source.begin() as conn:
            if conn.execute(select(OUTBOX.c.supervision_id).where(OUTBOX.c.supervision_id == sup.id)).first() is None:
                conn.execute(OUTBOX.insert().values(
                    supervision_id=sup.id, event_id=sup.event_id, level=sup.level, note=sup.note,
                    new_due_at=sup.new_due_at, created_by=sup.created_by,
                    created_at=sup.created_at.astimezone(UTC).replace(tzinfo=None),
                    payload=json.dumps(sup.payload(self.tz), ensure_ascii=False)))
        return "delivered"

    def acknowledged(self, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        with self.source.connect() as conn:
            q = select(OUTBOX.c.supervision_id).where(OUTBOX.c.supervision_id.in_(ids), OUTBOX.c.acknowledged_at.is_not(None))
            return {r[0] for r in conn.execute(q)}


class WebhookChannel:
    """POST JSON to an intranet URL; 2xx is delivery, a body {"acknowledged": true} also acknowledgement."""

    def __init__(self, url: str, timeout_s: float = 5.0, tz: str = "Asia/Shanghai"):
        self.url, self.timeout_s, self.tz = url, timeout_s, tz

    def send(self, sup: Supervision) -> str:
        req = urllib.request.Request(self.url, data=json.dumps(sup.payload(self.tz), ensure_ascii=False).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Idempotency-Key": sup.id})
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - a configured intranet URL
            body = resp.read(4096)
        try:
            acked = bool(json.loads(body or b"{}").get("acknowledged"))
        except (ValueError, AttributeError):
            acked = False
        return "acknowledged" if acked else "delivered"

    def acknowledged(self, ids: list[str]) -> set[str]:
        return set()


def deliver_due(store: SupervisionStore, channel, now: datetime | None = None) -> dict[str, int]:
    """Send every supervision due, then collect acknowledgements; counts by outcome."""
    counts = {"delivered": 0, "acknowledged": 0, "failed": 0}
    for sup in store.claim_due(now):
        try:
            state = channel.send(sup)
        except Exception as exc:  # noqa: BLE001 - the webhook or the source DB is down: retried later
            store.mark(sup.id, "failed", f"{type(exc).__name__}: {exc}", now)
            counts["failed"] += 1
            continue
        store.mark(sup.id, state, now=now)
        counts[state] += 1
    for sid in channel.acknowledged(store.ids_in_state("delivered")):
        store.acknowledge(sid)
        counts["acknowledged"] += 1
    return counts
