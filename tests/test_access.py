"""Jurisdiction-scoped access: for every role, another jurisdiction is refused by URL, by a forged
callback POST (every callback the app registers) and by GeoJSON/export; a legitimate user sees
exactly their scope (numbers equal an independent SQL count); sign-in is required everywhere but
the sign-in page, static code and the public health line."""

from __future__ import annotations

import json
import os
import time

import pytest
from helpers import (
    BACKENDS,
    NOW,
    WINDOW_SQL,
    foreign_region,
    forged_payloads,
    medium_payload,
    not_quarantined,
    page_payload,
    sign_in,
)
from sqlalchemy import text

from components.format import fmt_count
from contract.windows import window_start


def pages(client, role, region):
    return {"medium": f"/medium?region={region}", "small": f"/small?region={region}",
            "big": f"/big?region={region}", "geo": f"/geo/grid.json?parent={region}"}


HTML = {"Accept": "text/html"}
TEST_PG = os.environ.get("TEST_POSTGRES_URL", "")
SCOPED_ROLES = ["district", "street", "grid"]


# ---------------------------------------------------------------------------------------- signed out

@pytest.mark.parametrize("path", ["/", "/medium", "/small?region=3201", "/big"])
def test_pages_redirect_to_sign_in(app, path):
    r = app.server.test_client().get(path, headers=HTML)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/geo/district.json?parent=3201", "/_dash-layout", "/_dash-dependencies"])
def test_data_needs_a_session(app, path):
    assert app.server.test_client().get(path).status_code == 401


def test_callback_needs_a_session(app, published):
    r = app.server.test_client().post("/_dash-update-component", json=medium_payload("3201"))
    assert r.status_code == 401


def test_public_health_says_only_freshness(app, published, client_as):
    anon = app.server.test_client().get("/health").get_json()
    assert anon["version"] is not None
    assert not {"quarantine", "events_total", "frames", "source_errors"} & set(anon)
    district = client_as("district").get("/health").get_json()
    assert "events_total" not in district  # city-wide totals: not for a district
    assert "events_total" in client_as("city").get("/health").get_json()


# ------------------------------------------------------------------------------------- refused by URL

@pytest.mark.parametrize("role", SCOPED_ROLES)
def test_other_jurisdiction_by_url_is_refused(app, city, users, client_as, published, role):
    client = client_as(role)
    mine = users[role][2]
    for other in (foreign_region(city, role, mine), city.code):  # a sibling, and the city totals
        for name, path in pages(client, role, other).items():
            r = client.get(path, headers=HTML)
            assert r.status_code == 403, (role, name, other, r.status_code)
    # the page layouts themselves (rendered by Dash's page callback from the URL) refuse it too
    other = foreign_region(city, role, mine)
    for page in ("medium", "small"):
        r = client.post("/_dash-update-component", json=page_payload(f"/{page}", f"?region={other}"))
        assert r.status_code == 403, (role, page)


def test_denials_are_audited(app, city, users, client_as):
    client = client_as("street")
    other = foreign_region(city, "street", users["street"][2])
    assert client.get(f"/medium?region={other}", headers=HTML).status_code == 403
    rows = app.server.config["COCKPIT_USERS"].audit_rows("denied")
    assert rows and rows[-1].who == f"street:{users['street'][0]}" and other in rows[-1].detail


# ---------------------------------------------------------------------- refused by a forged callback

@pytest.mark.parametrize("role", SCOPED_ROLES)
def test_every_callback_refuses_another_jurisdiction(app, city, users, client_as, published, role):
    client = client_as(role)
    client.get("/")
    deps = client.get("/_dash-dependencies").get_json()
    server_side = [d for d in deps if not d.get("clientside_function")]
    assert len(server_side) >= 7  # poll x3, big x2, medium x2, small, pages …
    other = foreign_region(city, role, users[role][2])
    for value in (other, {"region": other, "window": "today", "measure": "density"}, f"?region={other}"):
        for payload in forged_payloads(deps, value):
            r = client.post("/_dash-update-component", json=payload)
            assert r.status_code == 403, (role, payload["output"], value, r.status_code)


@pytest.mark.parametrize("role", SCOPED_ROLES)
def test_scoped_callbacks_refuse_the_city_totals(app, city, users, client_as, published, role):
    """An ancestor (the city) is not another jurisdiction for the net: each callback refuses it itself."""
    client = client_as(role)
    client.get("/")
    assert client.post("/_dash-update-component", json=medium_payload(city.code)).status_code == 403
    deps = client.get("/_dash-dependencies").get_json()
    small = next(p for p in forged_payloads(deps, city.code) if "small-kpis" in p["output"])
    small["inputs"][0]["value"] = [1, False]  # the snapshot key; the region travels in the state store
    assert client.post("/_dash-update-component", json=small).status_code == 403


def test_cross_origin_callback_is_refused(client_as, published):
    client = client_as("city")
    client.get("/")
    r = client.post("/_dash-update-component", json=medium_payload("3201"), headers={"Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/_dash-update-component", data="x=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415


# ------------------------------------------------------------------------ a legitimate user's scope

@pytest.mark.parametrize("role", ["city", *SCOPED_ROLES])
def test_user_sees_exactly_their_scope(app, city, users, client_as, published, sim_engine, role):
    client = client_as(role)
    region = users[role][2]
    # the default view of each page is the user's own region
    r = client.post("/_dash-update-component", json=page_payload("/medium", ""))
    assert r.status_code == 200
    assert f'"region": "{region}"' in json.dumps(r.get_json()) or f'"region":"{region}"' in r.get_data(as_text=True)
    # its numbers equal an independent SQL count over the source
    resp = client.post("/_dash-update-component", json=medium_payload(region)).get_json()["response"]
    shown = json.dumps(resp["medium-kpis"]["children"], ensure_ascii=False)
    snap = app.server.config["COCKPIT"].snapshot()
    quarantined = snap.frame("quarantine")["row_id"].tolist()
    with sim_engine.connect() as conn:
        count = conn.execute(text(WINDOW_SQL.format(exclude=not_quarantined(quarantined))),
                             {"prefix": f"{region}%", "start": window_start(NOW, "7d").to_pydatetime()}).one().reported
    assert fmt_count(count) in shown and count > 0, (role, region, count)
    # the map geometry is their area only
    geo = client.get("/geo/grid.json").get_json()
    codes = {f["properties"]["code"] for f in geo["features"]}
    assert codes and all(c.startswith(region) for c in codes)
    want = city.regions[(city.regions["level"] == "grid") & city.regions["code"].str.startswith(region)]
    assert len(codes) == len(want)


# ---------------------------------------------------------------------------------- sign-in itself

def test_password_is_stored_hashed(app, users):
    store = app.server.config["COCKPIT_USERS"]
    for row in store.users():
        password = next(p for n, p, _ in users.values() if n == row.name)
        assert row.password_hash.startswith("$argon2id$") and password not in row.password_hash


def test_sign_in_audited_and_wrong_password_refused(app, users):
    client = app.server.test_client()
    name, password, _ = users["district"]
    assert sign_in(client, name, "wrong-password").status_code == 401
    r = sign_in(client, name, password, next_url="/medium")
    assert r.status_code == 302 and r.headers["Location"] == "/medium"
    store = app.server.config["COCKPIT_USERS"]
    assert [(a.who, a.action) for a in store.audit_rows()][-2:] == [(name, "signin_failed"), (f"district:{name}", "signin")]


def test_sign_in_form_needs_its_csrf_token(app, users):
    name, password, _ = users["city"]
    r = app.server.test_client().post("/login", data={"username": name, "password": password})
    assert r.status_code == 400


def test_open_redirect_refused(app, users):
    name, password, _ = users["city"]
    r = sign_in(app.server.test_client(), name, password, next_url="//evil.example/")
    assert r.headers["Location"] == "/"


def test_failed_sign_ins_are_rate_limited(app, users):
    name, password, _ = users["street"]
    client = app.server.test_client()
    for _ in range(5):  # the default COCKPIT_SIGNIN_LIMIT: 5 per minute
        assert sign_in(client, name, "nope-nope").status_code == 401
    assert sign_in(client, name, password).status_code == 429  # even the right password, for now
    other = app.server.test_client()  # another user from the same address: also limited (per address)
    assert sign_in(other, users["city"][0], users["city"][1]).status_code == 429
    actions = [a.action for a in app.server.config["COCKPIT_USERS"].audit_rows()]
    assert actions.count("signin_failed") == 5 and actions.count("signin_limited") == 2


def test_failed_sign_ins_are_limited_per_name_and_sign_out_is_never_limited(app, users, client_as):
    import re

    name, password, _ = users["district"]
    for i in range(5):  # one name tried from five addresses: the per-name limit
        client = app.server.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        assert sign_in(client, name, "nope-nope").status_code == 401
    fresh = app.server.test_client()
    fresh.environ_base["REMOTE_ADDR"] = "10.0.0.99"
    assert sign_in(fresh, name, password).status_code == 429
    signed_in = client_as("city")  # from the address the limit does not hold, then that address is limited
    for _ in range(5):
        sign_in(app.server.test_client(), "nobody", "nope-nope")
    assert sign_in(app.server.test_client(), *users["grid"][:2]).status_code == 429
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      signed_in.get("/login").get_data(as_text=True)).group(1)
    assert signed_in.post("/logout", data={"csrf_token": token}).status_code == 302  # not 429
    assert signed_in.get("/_dash-layout").status_code == 401


def test_successful_sign_ins_are_not_limited(app, users):
    name, password, _ = users["grid"]
    for _ in range(8):
        assert sign_in(app.server.test_client(), name, password).status_code == 302


def test_expired_session_is_refused(app, client_as, settings):
    client = client_as("district")
    assert client.get("/_dash-layout").status_code == 200
    with client.session_transaction() as s:
        s["signed_in_at"] = time.time() - settings.session_minutes * 60 - 1
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/medium", headers=HTML).status_code == 302  # to the sign-in page
    assert app.server.config["COCKPIT_USERS"].audit_rows("session_expired")


def test_disabled_user_is_signed_out_on_next_request(app, client_as, users):
    client = client_as("street")
    assert client.get("/_dash-layout").status_code == 200
    app.server.config["COCKPIT_USERS"].set_active(users["street"][0], False)
    assert client.get("/_dash-layout").status_code == 401
    assert sign_in(app.server.test_client(), *users["street"][:2]).status_code == 401


def test_sign_out_needs_csrf_and_ends_the_session(app, client_as):
    import re

    client = client_as("city")
    assert client.post("/logout").status_code == 400
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/_dash-layout").status_code == 401


def test_cookie_and_security_headers(settings, city, redis_client, users):
    from dashboard.app import create_app

    secure = create_app(settings.model_copy(update={"cookie_secure": True}), city, redis_client)
    store = secure.server.config["COCKPIT_USERS"]
    store.add_user("sec", "secure-pass-1", "city", "3201", city)
    client = secure.server.test_client()
    r = sign_in(client, "sec", "secure-pass-1")
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    h = r.headers
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"] and "default-src 'self'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer" and h["Strict-Transport-Security"].startswith("max-age=")


def test_secret_key_required_outside_the_demo(settings, city, redis_client, monkeypatch, capsys):
    from config.settings import SettingsError
    from dashboard.__main__ import main
    from dashboard.app import create_app

    with pytest.raises(SettingsError, match="COCKPIT_SECRET_KEY"):
        create_app(settings.model_copy(update={"secret_key": ""}), city, redis_client)
    assert main([]) == 2
    assert "COCKPIT_SECRET_KEY" in capsys.readouterr().err
    demo = create_app(settings.model_copy(update={"secret_key": "", "simulate": True}), city, redis_client)
    assert len(demo.server.secret_key) >= 32


# ------------------------------------------------------------------------------- personal data

@pytest.mark.parametrize("role,personal", [("city", False), ("district", False), ("street", True), ("grid", True)])
def test_personal_data_masked_by_role(app, client_as, role, personal):
    from dashboard import access

    client = client_as(role)
    with client.application.test_request_context():
        from flask_login import login_user

        from dashboard.auth import SignedIn
        from dashboard.user_store import Principal

        me = client.get("/_dash-layout")  # the session works
        assert me.status_code == 200
        store = app.server.config["COCKPIT_USERS"]
        row = next(u for u in store.users() if u.role == role)
        login_user(SignedIn(Principal("u", row.id, row.name, row.role, row.region)))
        assert access.may_see_personal() is personal
        shown = (access.mask_name("张三丰"), access.mask_phone("13812345678"), access.mask_address("中山路123号4栋"))
        assert shown == (("张三丰", "13812345678", "中山路123号4栋") if personal else ("张**", "138****5678", "中山路…"))


# ------------------------------------------------------------------------------ wall display tokens

def test_wall_token_signs_in_bound_to_its_region_and_revocation_ends_it(app, city, published):
    store = app.server.config["COCKPIT_USERS"]
    token = store.add_token("wall-xuanwu", "320102", city)
    wall = app.server.test_client()
    r = wall.get(f"/big?token={token}&canvas=32:9", headers=HTML)
    assert r.status_code == 302 and r.headers["Location"] == "/big?canvas=32%3A9"  # the token leaves the URL
    assert wall.get("/_dash-layout").status_code == 200
    assert wall.get("/medium?region=320104", headers=HTML).status_code == 403
    assert wall.get("/geo/street.json?parent=320102").status_code == 200
    assert wall.get("/geo/street.json?parent=3201").status_code == 403
    assert [a.action for a in store.audit_rows()][-3:] == ["token_signin", "denied", "denied"]
    store.revoke_token("wall-xuanwu")
    assert wall.get("/_dash-layout").status_code == 401  # its session ends on the next request
    assert app.server.test_client().get(f"/big?token={token}", headers=HTML).status_code == 403
    assert app.server.test_client().get("/big?token=guessed", headers=HTML).status_code == 403


def test_wall_sessions_outlive_the_session_lifetime_while_the_token_is_valid(app, city, settings):
    store = app.server.config["COCKPIT_USERS"]
    token = store.add_token("wall-city", "3201", city)
    wall = app.server.test_client()
    wall.get(f"/big?token={token}", headers=HTML)
    with wall.session_transaction() as s:
        s["signed_in_at"] = time.time() - settings.session_minutes * 60 - 1
    assert wall.get("/_dash-layout").status_code == 200


# ---------------------------------------------------------------------------- the users command

@pytest.mark.parametrize("backend", BACKENDS)
def test_users_command(monkeypatch, tmp_path, capsys, backend):
    """On SQLite and (when TEST_POSTGRES_URL is set) PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/cmd.db"
    else:
        url = TEST_PG
        from sqlalchemy import create_engine

        from dashboard.user_store import AppBase

        eng = create_engine(url)
        AppBase.metadata.drop_all(eng)
        with eng.begin() as conn:  # and the migrations' own record, so the store starts from nothing
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        eng.dispose()
    run_users_command(monkeypatch, capsys, url)


def run_users_command(monkeypatch, capsys, url):
    import io

    from dashboard.user_store import UserStore
    from dashboard.users import main

    monkeypatch.setenv("COCKPIT_APP_DB_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["add", "ann", "--role", "street", "--region", "320102002", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["add", "ann", "--role", "street", "--region", "320102002", "--password-stdin"]) == 2
    assert "exists already" in capsys.readouterr().err
    for bad, why in ((["--role", "street", "--region", "320102"], "does not fit role"),
                     (["--role", "district", "--region", "999999"], "not in the city model")):
        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
        assert main(["add", "bob", *bad, "--password-stdin"]) == 2
        assert why in capsys.readouterr().err
    store = UserStore(url)
    assert store.check_password("ann", "a-long-password").region == "320102002"
    assert main(["disable", "ann"]) == 0 and store.check_password("ann", "a-long-password") is None
    assert main(["enable", "ann"]) == 0 and store.check_password("ann", "a-long-password") is not None
    assert main(["token", "hall", "--region", "320102"]) == 0
    token = capsys.readouterr().out.split("(shown once): ")[1].split()[0]
    assert store.check_token(token).region == "320102"
    assert main(["revoke", "hall"]) == 0 and store.check_token(token) is None
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "ann" in listing and "active" in listing and "revoked" in listing
    assert main(["disable", "nobody"]) == 2 and "no user named 'nobody'" in capsys.readouterr().err
    store.engine.dispose()


# ------------------------------------------------------------------ every route, including new ones

def route_urls(app, region: str) -> list[str]:
    """A GET URL for every route the server has (Dash's catch-all too), with `region` in its query."""
    urls = []
    for rule in app.server.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        path = rule.rule
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "x").replace(f"<path:{arg}>", "x")
            path = path.replace(f"<string:{arg}>", "x")
        path = path.replace("<path:path>", "medium").replace("<level>", "grid")
        urls.append(f"{path}?region={region}&parent={region}")
    return urls


def test_every_route_needs_a_session_but_the_public_ones(app, published):
    from dashboard.auth import PUBLIC_EXACT, PUBLIC_PREFIXES

    anon = app.server.test_client()
    checked = 0
    for url in route_urls(app, "3201"):
        path = url.split("?")[0]
        if path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_EXACT:
            continue
        r = anon.get(url)
        assert r.status_code == 401, (url, r.status_code)
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("role", SCOPED_ROLES)
def test_every_route_refuses_another_jurisdiction_in_its_query(app, city, users, client_as, published, role):
    """Any route (exports included, whenever they land) given another jurisdiction's region is refused."""
    from dashboard.auth import PUBLIC_EXACT, PUBLIC_PREFIXES

    client = client_as(role)
    other = foreign_region(city, role, users[role][2])
    for url in route_urls(app, other):
        path = url.split("?")[0]
        if path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_EXACT or path == "/logout":
            continue
        assert client.get(url, headers=HTML).status_code == 403, url


def test_downloads_are_audited(settings, city, redis_client):
    """Every response sent as an attachment (CSV/Excel exports) writes an audit row with its URL."""
    from dashboard.app import create_app

    app = create_app(settings, city, redis_client)
    app.server.add_url_rule("/test-export.csv", "test_export", lambda: (
        "a,b\n", 200, {"Content-Disposition": "attachment; filename=x.csv", "Content-Type": "text/csv"}))
    store = app.server.config["COCKPIT_USERS"]
    store.add_user("exporter", "export-pass-1", "district", "320102", city)
    client = app.server.test_client()
    sign_in(client, "exporter", "export-pass-1")
    assert client.get("/test-export.csv?region=320102").status_code == 200
    rows = store.audit_rows("export")
    assert len(rows) == 1 and rows[0].who == "district:exporter" and "region=320102" in rows[0].detail
    assert client.get("/test-export.csv?region=320104").status_code == 403
    assert len(store.audit_rows("export")) == 1 and store.audit_rows("denied")
