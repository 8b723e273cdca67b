"""Briefings as PDF files: HTML (briefing/render.py) to A4 PDF with WeasyPrint (its own layout engine on
the system's Pango; fonts from fontconfig, here Noto CJK, embedded as subsets; nothing fetched: any URL
a document names is refused), and the kept set on disk: `<dir>/<yyyy-mm-dd>/<region code>.pdf`, the
last KEEP_DAYS days of briefings (older day folders are removed after each build)."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from briefing.data import build_briefing, regions_for_briefing
from briefing.render import render_html
from config.city import City
from snapshots.reader import Snapshot

log = logging.getLogger(__name__)
KEEP_DAYS = 30


def _no_fetch(url: str, *args, **kwargs):
    """The briefing is self-contained (inline SVG, system fonts): any URL it would load is a bug, refused."""
    raise ValueError(f"the briefing may not load {url!r}: it is rendered offline")


class PdfRenderer:
    """One WeasyPrint font configuration reused for every document (building it is the slow part)."""

    def __init__(self):
        from weasyprint.text.fonts import FontConfiguration

        self.fonts = FontConfiguration()

    def pdf(self, html: str) -> bytes:
        from weasyprint import HTML

        return HTML(string=html, url_fetcher=_no_fetch).write_pdf(font_config=self.fonts)


def briefing_pdf(snap: Snapshot, city: City, code: str, day: date, weights: dict[str, float],
                 history_days: int | None = None, renderer: PdfRenderer | None = None) -> bytes:
    """One region's briefing for one day as PDF bytes."""
    html = render_html(build_briefing(snap, city, code, day, weights, history_days))
    return (renderer or PdfRenderer()).pdf(html)


def briefing_path(folder: Path, code: str, day: date) -> Path:
    return Path(folder) / day.isoformat() / f"{code}.pdf"


def write_atomic(path: Path, body: bytes) -> None:
    """Write through a temporary file and rename, so a reader never gets half a PDF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(body)
    tmp.replace(path)


@dataclass
class BuildReport:
    day: date
    files: dict[str, int] = field(default_factory=dict)  # region code -> PDF bytes
    seconds: float = 0.0


def build_all(snap: Snapshot, city: City, day: date, folder: Path, weights: dict[str, float],
              history_days: int | None = None, root: str | None = None, keep_days: int = KEEP_DAYS) -> BuildReport:
    """The briefings of the city, its districts and streets (or those under `root`) for `day`, written to
    `folder`; then day folders older than keep_days before `day` are removed."""
    t0 = time.perf_counter()
    report = BuildReport(day)
    renderer = PdfRenderer()
    for code in regions_for_briefing(city, root):
        body = briefing_pdf(snap, city, code, day, weights, history_days, renderer)
        write_atomic(briefing_path(folder, code, day), body)
        report.files[code] = len(body)
    report.seconds = time.perf_counter() - t0
    prune(folder, day, keep_days)
    log.info("briefings for %s: %d files, %.1f s", day, len(report.files), report.seconds)
    return report


def prune(folder: Path, day: date, keep_days: int = KEEP_DAYS) -> list[str]:
    """Remove day folders older than the keep_days ending on `day`; returns the removed names."""
    first_kept = day - timedelta(days=keep_days - 1)
    removed = []
    for p in Path(folder).glob("????-??-??"):
        try:
            d = date.fromisoformat(p.name)
        except ValueError:
            continue  # not ours
        if p.is_dir() and d < first_kept:
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p.name)
    return sorted(removed)
