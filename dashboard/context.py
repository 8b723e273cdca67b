"""What callbacks and layouts need (settings, city, snapshot reader), reached through the Flask app,
so page modules never import the Dash app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import flask

from config.city import City
from config.clock import now_local
from config.settings import Settings
from snapshots.reader import Snapshot, SnapshotReader


@dataclass
class Cockpit:
    settings: Settings
    city: City
    reader: SnapshotReader

    def snapshot(self) -> Snapshot:
        return self.reader.current()

    def now(self) -> datetime:
        return now_local(self.city.timezone)


def cockpit() -> Cockpit:
    return flask.current_app.config["COCKPIT"]
