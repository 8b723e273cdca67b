# The product image: mirrors the README install (requirements.txt), runs under gunicorn.
# The demo (embedded Redis + simulator, demo/) is not in the image; production sets
# COCKPIT_REDIS_URL and COCKPIT_SOURCE_URL and runs the web tier (the ETL leader is elected in Redis).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*  # WeasyPrint's Pango and the CJK fonts of the daily briefing
COPY requirements.txt requirements-forecast.txt ./
RUN pip install --no-cache-dir -r requirements.txt \
    && pip install --no-cache-dir --no-deps -r requirements-forecast.txt  # statsforecast declares pandas<3 (README)
COPY config ./config
COPY contract ./contract
COPY snapshots ./snapshots
COPY etl ./etl
COPY queries ./queries
COPY components ./components
COPY dashboard ./dashboard
COPY layouts ./layouts
COPY briefing ./briefing
COPY assets ./assets
RUN useradd --system --home /app cockpit && mkdir -p /app/data && chown cockpit /app/data
USER cockpit
EXPOSE 8050
HEALTHCHECK CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8050/health').status == 200 else 1)"
CMD ["gunicorn", "--bind", "0.0.0.0:8050", "--workers", "2", "--threads", "4", "dashboard.wsgi:server"]
