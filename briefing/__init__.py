"""The daily briefing (日报): an A4 PDF per region (city, districts, streets) for a local day, built from the
published snapshot through the screens' own queries. data.py builds the briefing as a dict, render.py lays
it out as HTML with SVG charts (charts.py), pdf.py prints it with WeasyPrint and keeps the last 30 days,
web.py serves /medium/briefing.pdf and builds each morning's set; `python -m briefing` builds from the CLI.
It sits beside layouts: it reads queries, snapshots, contract and config; only dashboard/service.py imports it."""
