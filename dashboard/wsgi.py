"""WSGI entry for gunicorn: `gunicorn dashboard.wsgi:server` (settings from the environment; the ETL
runs in the workers under the leader lock unless COCKPIT_RUN_ETL=false and `python -m etl` runs it)."""

from config.settings import load_settings
from dashboard.app import create_app

server = create_app(load_settings()).server
