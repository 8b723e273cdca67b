"""One definition of an alert for every screen: the phone's alerts are the `alerts` frame's rows under its
area (spike thresholds from the settings, never a second hard-coded rule), and a camera alert starts when
the devices job saw the cameras, not at the latest events tick."""

from datetime import datetime, timedelta

import pandas as pd

from contract import frames as F
from etl.jobs import EtlJobs
from etl.transforms.alerts import AlertThresholds
from queries import views
from snapshots.reader import Snapshot, SnapshotReader
from snapshots.store import SnapshotStore


def snapshot_of(frames: dict[str, pd.DataFrame]) -> Snapshot:
    return Snapshot(version=1, as_of=datetime(2026, 11, 20, 12), manifest={"frames": {}}, frames=frames)


def alerts_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(F.ALERTS.columns)).astype({"value": float, "threshold": float})


def test_phone_alerts_are_the_alerts_frame_under_the_area():
    spike = {"kind": "spike", "code": "320102002", "name": "梅园新村街道", "level": "amber", "value": 9.0,
             "threshold": 6.0, "since": pd.Timestamp("2026-11-20 09:00"), "text": "t"}
    elsewhere = {**spike, "code": "320104001"}
    legacy_spikes = pd.DataFrame({"code": ["320102005"], "today": [50], "avg7": [1.0], "level": ["street"]})
    snap = snapshot_of({F.ALERTS.name: alerts_frame([spike, elsewhere]), "spikes": legacy_spikes})
    assert [a["code"] for a in views.area_alerts(snap, "320102")] == ["320102002"]
    # no alert in the frame: none on the phone either (it once fell back to a spike rule of its own)
    snap = snapshot_of({F.ALERTS.name: alerts_frame([]), "spikes": legacy_spikes})
    assert views.area_alerts(snap, "320102") == []


def test_no_frame_of_its_own_for_spikes(published, redis_client):
    snap = SnapshotReader(redis_client, min_check_s=0).current()
    assert "spikes" not in snap.manifest["frames"]
    assert F.ALERTS.name in snap.manifest["frames"]


def test_camera_alert_starts_when_the_devices_were_read(sim_engine, city, redis_client):
    every_district = AlertThresholds(overdue_min=10**9, spike_factor=1e9, spike_min=10**9, camera_online_min=1.01)
    jobs = EtlJobs(sim_engine, city, SnapshotStore(redis_client), alert_thresholds=every_district)
    devices_at = datetime(2026, 11, 20, 11, 0)
    jobs.run("devices", devices_at)
    jobs.run("events", devices_at + timedelta(minutes=7))
    cameras = SnapshotReader(redis_client, min_check_s=0).current().frame(F.ALERTS)
    cameras = cameras[cameras["kind"] == "camera"]
    assert len(cameras) > 0, "every district with cameras is under a 101% online threshold"
    assert set(cameras["since"]) == {pd.Timestamp(devices_at)}
