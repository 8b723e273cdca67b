"""The app factory: create_app(settings) builds the Dash app with its pages, routes and snapshot reader."""

from __future__ import annotations

import dash
import redis
from flask_compress import Compress

from config.city import City, load_city
from config.labels import label, set_language
from config.settings import ROOT, Settings
from dashboard.auth import init_auth
from dashboard.context import Cockpit
from dashboard.metrics import configure_log_format, init_metrics
from dashboard.phone_map import register_phone_map
from dashboard.routes import register_routes
from dashboard.security import init_security
from dashboard.supervision import SupervisionStore
from dashboard.user_store import UserStore
from queries import nearby, views
from snapshots.reader import Snapshot, SnapshotReader


def warm(snap: Snapshot) -> None:
    """What a new snapshot's first requests would build (run by the reader before it swaps it in): the
    screens' indexes (queries/views.py) and the cameras' STRtree (queries/nearby.py)."""
    views.warm(snap)
    nearby.camera_index(snap)


def create_app(settings: Settings, city: City | None = None, client: redis.Redis | None = None) -> dash.Dash:
    """A Dash app reading snapshots from Redis (settings.redis_url unless a client is given)."""
    set_language(settings.lang)  # process-wide, before the pages are imported: their titles are labels
    city = city or load_city(settings.city_dir)
    client = client or redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    app = dash.Dash(
        __name__, use_pages=True, pages_folder=str(ROOT / "layouts"), assets_folder=str(ROOT / "assets"),
        title=label("app_title"), suppress_callback_exceptions=True, serve_locally=True,
        update_title=None,  # type: ignore[arg-type]  # Dash documents None (no "Updating..." title)
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    server = app.server
    server.config["COCKPIT"] = Cockpit(settings, city, SnapshotReader(client, settings.redis_prefix, warm=warm))
    server.config["COMPRESS_MIMETYPES"] = ["application/json", "application/geo+json", "text/html",
                                           "text/css", "application/javascript", "text/javascript", "image/svg+xml"]
    Compress(server)
    users = UserStore(settings.app_db_url)
    init_auth(server, settings, users, client)
    server.config["COCKPIT_SUPERVISIONS"] = SupervisionStore(users.engine)  # 督办, in the app database
    server.config["COCKPIT_SUPERVISION_DELIVERY"] = settings.supervision_channel != "none"  # else shown 送达未配置
    init_security(server, city, hsts=settings.cookie_secure and not settings.simulate)
    configure_log_format(settings.log_format)
    init_metrics(server, settings, client, lambda: app.callback_map)
    register_routes(server, city)
    register_phone_map(server)
    app.layout = dash.html.Div([dash.page_container])
    return app
