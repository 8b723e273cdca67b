"""gunicorn settings for the web tier (`gunicorn -c deploy/gunicorn.conf.py dashboard.wsgi:server`).
Listens on COCKPIT_HOST:COCKPIT_PORT; workers are processes (each loads new snapshots in a background
thread), a few threads each for the screens' concurrent polls; a worker is recycled after many
requests, with jitter, so a slow leak can never grow for weeks."""

import os

bind = f"{os.environ.get('COCKPIT_HOST', '127.0.0.1')}:{os.environ.get('COCKPIT_PORT', '8050')}"
workers = int(os.environ.get("WEB_WORKERS", "2"))  # about one per core: a render is CPU-bound
threads = 4
worker_class = "gthread"
timeout = 60  # a callback takes milliseconds; a worker silent this long is stuck and replaced
graceful_timeout = 30
keepalive = 5
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
forwarded_allow_ips = "*"  # behind the reverse proxy: trust its X-Forwarded-* (the proxy is the only way in)
