"""WSGI entry for gunicorn: `gunicorn dashboard.wsgi:server`. Settings come from the environment;
each worker may run the ETL scheduler, and the Redis leader lock lets only one of them run the jobs."""

from config.city import load_city
from config.settings import load_settings
from dashboard.service import build_app

_settings = load_settings()
server = build_app(_settings, load_city(_settings.city_dir)).server
server.config["COCKPIT"].reader.keep_fresh()  # each worker loads new snapshots in the background
