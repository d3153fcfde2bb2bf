"""Authentication (issue 10, finding 6), on SQLite and PostgreSQL, through the real app and CLI:
login throttling per account and per address, API tokens that expire and can be revoked, a
password reset that revokes them, disabled users, the admin routes and commands, and the
review schema's migrations (an existing database keeps its users and data)."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text, update

from api.app import create_app
from kb import auth
from kb.review import AuditEvent, LoginFailure, LoginLock, ReviewDB, Token
from review_support import USERS, database_url, make_users, postgres_server  # noqa: F401

THAI = re.compile(r"[\u0e00-\u0e7f]")


@pytest.fixture(scope="module")
def empty_kb(tmp_path_factory):
    """An empty store: nothing here searches, and embedding documents is the slow part."""
    from kb.config import Settings
    from kb.service import KnowledgeBase
    base = KnowledgeBase(replace(Settings(), data_dir=tmp_path_factory.mktemp("kb") / "data", chroma_url=None))
    yield base
    base.store.close()


@pytest.fixture
def app(empty_kb, database_url, monkeypatch):  # noqa: F811
    for name in ("KB_LOGIN_MAX_FAILURES", "KB_LOGIN_MAX_FAILURES_PER_ADDRESS", "KB_LOGIN_WINDOW_MINUTES",
                 "KB_LOGIN_LOCK_MINUTES", "KB_TOKEN_DAYS", "KB_TOKEN_MAX_DAYS"):
        monkeypatch.delenv(name, raising=False)
    application = create_app(kb=empty_kb, database=database_url, agency="กรมทดสอบ", fiscal_year=2564)
    with TestClient(application):
        make_users(application.state.ctx.db)
        yield application


def client(app, address: str = "10.0.0.1") -> TestClient:
    """A client from one address (the throttle counts per address)."""
    return TestClient(app, client=(address, 50000))


def token_for(app, role: str, **body) -> str:
    r = client(app, "10.9.9.9").post("/api/tokens", json={"name": role, "password": USERS[role], **body})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def web_login(app, role: str, password: str | None = None, address: str = "10.8.8.8") -> TestClient:
    c = client(app, address)
    r = c.post("/login", data={"name": role, "password": password or USERS[role], "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def db_of(app) -> ReviewDB:
    return app.state.ctx.db


# --- throttling -----------------------------------------------------------------------------------

def test_account_locks_at_the_fifth_failure_with_429_retry_after_and_thai(app):
    c = client(app)
    for i in range(4):
        r = c.post("/api/tokens", json={"name": "editor", "password": f"wrong-{i}"})
        assert r.status_code == 401, (i, r.text)
    fifth = c.post("/api/tokens", json={"name": "editor", "password": "wrong-5"})
    assert fifth.status_code == 429, fifth.text
    retry = int(fifth.headers["retry-after"])
    assert 14 * 60 < retry <= 15 * 60
    assert "editor" in fifth.json()["detail"] and "ลองใหม่ในอีกประมาณ 15 นาที" in fifth.json()["detail"]
    # now even the right password is refused, from anywhere, without being checked
    right = client(app, "10.0.0.99").post("/api/tokens", json={"name": "editor", "password": USERS["editor"]})
    assert right.status_code == 429 and "retry-after" in right.headers
    # another account from the same address is not locked (the address has 5 of its 20)
    assert c.post("/api/tokens", json={"name": "viewer", "password": USERS["viewer"]}).status_code == 201
    with db_of(app).Session() as s:
        locks = [e.detail for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "login.lock"))]
    assert locks == [{"lock": "account", "name": "editor", "address": "10.0.0.1", "failures": 5,
                      "until": locks[0]["until"]}]
    # when the lock ends, the right password works again, and the count starts afresh
    with db_of(app).Session.begin() as s:
        s.execute(update(LoginLock).values(until=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"]}).status_code == 201
    for i in range(4):
        assert c.post("/api/tokens", json={"name": "editor", "password": "again"}).status_code == 401


def test_a_success_resets_the_account_count(app):
    c = client(app)
    for _ in range(2):
        for i in range(4):
            assert c.post("/api/tokens", json={"name": "reviewer", "password": "nope"}).status_code == 401
        assert c.post("/api/tokens", json={"name": "reviewer", "password": USERS["reviewer"]}).status_code == 201
    with db_of(app).Session() as s:
        assert s.scalars(select(LoginFailure.key).where(LoginFailure.key == "account:reviewer")).all() == []


def test_one_address_is_locked_across_accounts(app, monkeypatch):
    monkeypatch.setenv("KB_LOGIN_MAX_FAILURES_PER_ADDRESS", "6")
    c = client(app, "10.0.0.7")
    names = ["a1", "a2", "a3", "viewer", "editor", "a6"]             # existing and unknown names
    codes = [c.post("/api/tokens", json={"name": n, "password": "guess"}).status_code for n in names]
    assert codes == [401] * 5 + [429]
    r = c.post("/api/tokens", json={"name": "admin", "password": USERS["admin"]})
    assert r.status_code == 429 and "เครื่องนี้" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
    # the accounts are not locked: the same admin from elsewhere gets in
    assert client(app, "10.0.0.8").post("/api/tokens", json={"name": "admin", "password": USERS["admin"]}).status_code == 201


def test_web_login_form_is_throttled_too(app):
    c = client(app, "10.0.0.5")
    for _ in range(4):
        r = c.post("/login", data={"name": "viewer", "password": "bad-pass", "next": "/"}, follow_redirects=False)
        assert r.status_code == 401 and "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in r.text
    r = c.post("/login", data={"name": "viewer", "password": "bad-pass", "next": "/"}, follow_redirects=False)
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert "ระงับการเข้าสู่ระบบไว้ชั่วคราว" in r.text and '<form method="post" action="/login">' in r.text
    r = c.post("/login", data={"name": "viewer", "password": USERS["viewer"], "next": "/"}, follow_redirects=False)
    assert r.status_code == 429


def test_throttle_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("KB_LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("KB_LOGIN_LOCK_MINUTES", "2")
    limits = auth.LoginLimits.from_env()
    assert (limits.per_account, limits.per_address, limits.window_minutes, limits.lock_minutes) == (3, 20, 15, 2)
    monkeypatch.setenv("KB_LOGIN_WINDOW_MINUTES", "soon")
    with pytest.raises(ValueError, match="KB_LOGIN_WINDOW_MINUTES"):
        auth.LoginLimits.from_env()


def test_failures_outside_the_window_do_not_count(app):
    db = db_of(app)
    limits = auth.LoginLimits(per_account=2, window_minutes=15)
    with pytest.raises(auth.LoginRefused) as first:
        auth.login(db, "editor", "wrong", "10.1.1.1", limits)
    assert first.value.status == 401
    with db.Session.begin() as s:
        s.execute(update(LoginFailure).values(at=datetime.now(timezone.utc) - timedelta(minutes=16)))
    with pytest.raises(auth.LoginRefused) as second:
        auth.login(db, "editor", "wrong", "10.1.1.1", limits)
    assert second.value.status == 401                     # the first one is out of the window
    with pytest.raises(auth.LoginRefused) as third:
        auth.login(db, "editor", "wrong", "10.1.1.1", limits)
    assert third.value.status == 429


# --- tokens -------------------------------------------------------------------------------------

def test_tokens_expire(app):
    c = client(app)
    r = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"], "label": "script"})
    expires = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(days=89.9) < expires - datetime.now(timezone.utc) <= timedelta(days=90)
    short = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"], "days": 2}).json()
    assert timedelta(days=1.9) < datetime.fromisoformat(short["expires_at"]) - datetime.now(timezone.utc)
    h = bearer(short["token"])
    assert c.get("/api/me", headers=h).status_code == 200
    with db_of(app).Session.begin() as s:
        s.execute(update(Token).where(Token.id == short["id"])
                  .values(expires_at=datetime.now(timezone.utc) - timedelta(minutes=1)))
    gone = c.get("/api/me", headers=h)
    assert gone.status_code == 401 and "หมดอายุแล้ว" in gone.json()["detail"]
    assert c.get("/api/me", headers=bearer(r.json()["token"])).status_code == 200   # the other one still works
    too_long = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"], "days": 400})
    assert too_long.status_code == 422 and "365" in too_long.json()["detail"]


def test_token_life_setting(app, monkeypatch):
    monkeypatch.setenv("KB_TOKEN_DAYS", "7")
    r = client(app).post("/api/tokens", json={"name": "viewer", "password": USERS["viewer"]}).json()
    assert timedelta(days=6.9) < datetime.fromisoformat(r["expires_at"]) - datetime.now(timezone.utc) <= timedelta(days=7)


def test_revoking_own_and_others_tokens(app):
    c = client(app)
    editor = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"]}).json()
    spare = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"], "label": "spare"}).json()
    admin = token_for(app, "admin")
    mine = c.get("/api/tokens", headers=bearer(editor["token"])).json()
    assert {t["id"] for t in mine} == {editor["id"], spare["id"]} and all("token" not in t for t in mine)
    # an editor cannot touch someone else's token: it is not even found
    admin_id = auth.resolve_token(db_of(app), admin)["token_id"]
    r = c.delete(f"/api/tokens/{admin_id}", headers=bearer(editor["token"]))
    assert r.status_code == 404 and str(admin_id) in r.json()["detail"]
    # own token
    assert c.delete(f"/api/tokens/{spare['id']}", headers=bearer(editor["token"])).json()["state"] == "revoked"
    r = c.get("/api/me", headers=bearer(spare["token"]))
    assert r.status_code == 401 and "ถูกยกเลิกแล้ว" in r.json()["detail"]
    # an administrator revokes the editor's other token
    listed = c.get("/api/users/editor/tokens", headers=bearer(admin)).json()
    assert [t["id"] for t in listed] == [editor["id"]]
    assert c.delete(f"/api/users/editor/tokens/{editor['id']}", headers=bearer(admin)).status_code == 200
    assert c.get("/api/me", headers=bearer(editor["token"])).status_code == 401
    assert {t["state"] for t in c.get("/api/users/editor/tokens?all=true", headers=bearer(admin)).json()} == {"revoked"}
    assert c.delete(f"/api/users/viewer/tokens/{editor['id']}", headers=bearer(admin)).status_code == 404


def test_admin_issues_a_token_for_a_user(app):
    admin = token_for(app, "admin")
    c = client(app)
    r = c.post("/api/users/viewer/tokens", headers=bearer(admin), json={"label": "nightly export", "days": 30})
    assert r.status_code == 201 and r.json()["user"]["name"] == "viewer"
    assert c.get("/api/me", headers=bearer(r.json()["token"])).json()["name"] == "viewer"
    assert c.post("/api/users/nobody/tokens", headers=bearer(admin)).status_code == 404


# --- password reset -------------------------------------------------------------------------------

def test_password_reset_by_admin_revokes_tokens_and_sessions(app):
    token = token_for(app, "editor")
    browser = web_login(app, "editor")
    assert browser.get("/a/1", follow_redirects=False).status_code == 200
    admin = token_for(app, "admin")
    r = client(app).post("/api/users/editor/password", headers=bearer(admin), json={"password": "brand-new-pass"})
    assert r.status_code == 200 and r.json()["revoked"] == 2
    gone = client(app).get("/api/me", headers=bearer(token))
    assert gone.status_code == 401 and "ถูกยกเลิกแล้ว" in gone.json()["detail"]
    assert browser.get("/a/1", follow_redirects=False).headers["location"].startswith("/login")
    assert client(app).post("/api/tokens", json={"name": "editor", "password": USERS["editor"]}).status_code == 401
    assert client(app).post("/api/tokens", json={"name": "editor", "password": "brand-new-pass"}).status_code == 201
    short = client(app).post("/api/users/editor/password", headers=bearer(admin), json={"password": "short"})
    assert short.status_code == 422 and "8" in short.json()["detail"]
    missing = client(app).post("/api/users/nobody/password", headers=bearer(admin), json={"password": "long-enough"})
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]


def test_own_password_change_revokes_own_tokens(app):
    token, other = token_for(app, "viewer"), token_for(app, "viewer")
    c = client(app)
    wrong = c.post("/api/me/password", headers=bearer(token),
                   json={"current_password": "not-it", "new_password": "viewer-pass-2"})
    assert wrong.status_code == 422 and "รหัสผ่านปัจจุบัน" in wrong.json()["detail"]
    r = c.post("/api/me/password", headers=bearer(token),
               json={"current_password": USERS["viewer"], "new_password": "viewer-pass-2"})
    assert r.status_code == 200 and r.json()["revoked"] == 2
    assert c.get("/api/me", headers=bearer(other)).status_code == 401
    assert c.post("/api/tokens", json={"name": "viewer", "password": "viewer-pass-2"}).status_code == 201


# --- disabled users -------------------------------------------------------------------------------

def test_disabled_user_cannot_log_in_and_loses_tokens_and_sessions(app):
    token = token_for(app, "editor")
    browser = web_login(app, "editor")
    admin = token_for(app, "admin")
    c = client(app)
    r = c.post("/api/users/editor/disable", headers=bearer(admin))
    assert r.status_code == 200 and r.json()["active"] is False
    gone = c.get("/api/me", headers=bearer(token))
    assert gone.status_code == 401 and "ถูกระงับการใช้งาน" in gone.json()["detail"]
    assert browser.get("/a/1", follow_redirects=False).headers["location"].startswith("/login")
    login = c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"]})
    assert login.status_code == 403 and "editor" in login.json()["detail"] and "ถูกระงับ" in login.json()["detail"]
    form = client(app, "10.0.0.3").post("/login", data={"name": "editor", "password": USERS["editor"], "next": "/"},
                                        follow_redirects=False)
    assert form.status_code == 403 and "ถูกระงับการใช้งาน" in form.text
    assert c.post("/api/users/editor/enable", headers=bearer(admin)).json()["active"] is True
    assert c.get("/api/me", headers=bearer(token)).status_code == 401           # old tokens stay revoked
    assert c.post("/api/tokens", json={"name": "editor", "password": USERS["editor"]}).status_code == 201
    with db_of(app).Session() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.action.like("user.%able"))).all()
    assert actions == ["user.disable", "user.enable"]


def test_the_last_admin_and_oneself_cannot_be_disabled(app):
    admin = token_for(app, "admin")
    c = client(app)
    me = c.post("/api/users/admin/disable", headers=bearer(admin))
    assert me.status_code == 422 and "admin" in me.json()["detail"]
    with pytest.raises(auth.Invalid, match="คนสุดท้าย"):
        auth.set_active(db_of(app), "admin", False)
    assert c.get("/api/me", headers=bearer(admin)).status_code == 200
    assert c.post("/api/users/nobody/disable", headers=bearer(admin)).status_code == 404


def test_user_routes_are_for_administrators_only(app):
    reviewer, editor = token_for(app, "reviewer"), token_for(app, "editor")
    editor_id = auth.resolve_token(db_of(app), editor)["token_id"]
    c = client(app)
    cases = [("post", "/api/users/viewer/disable", {}), ("post", "/api/users/viewer/enable", {}),
             ("post", "/api/users/viewer/password", {"json": {"password": "long-enough"}}),
             ("post", "/api/users/viewer/unlock", {}), ("get", "/api/users/viewer/tokens", {}),
             ("post", "/api/users/viewer/tokens", {}), ("delete", "/api/users/viewer/tokens", {}),
             ("delete", f"/api/users/editor/tokens/{editor_id}", {}), ("get", "/api/users", {})]
    for token in (reviewer, editor):
        for method, url, kw in cases:
            r = getattr(c, method)(url, headers=bearer(token), **kw)
            assert r.status_code == 403, (method, url, r.status_code, r.text)
            assert "ทำสิ่งนี้ไม่ได้" in r.json()["detail"]
    assert c.get("/api/me", headers=bearer(editor)).status_code == 200          # nothing was revoked
    assert client(app).post("/api/tokens", json={"name": "viewer", "password": USERS["viewer"]}).status_code == 201


def test_admin_unlocks_an_account(app):
    c = client(app)
    for _ in range(5):
        c.post("/api/tokens", json={"name": "viewer", "password": "x"})
    assert c.post("/api/tokens", json={"name": "viewer", "password": USERS["viewer"]}).status_code == 429
    admin = token_for(app, "admin")
    assert c.post("/api/users/viewer/unlock", headers=bearer(admin)).json()["unlocked"] is True
    assert c.post("/api/tokens", json={"name": "viewer", "password": USERS["viewer"]}).status_code == 201


# --- the CLI ------------------------------------------------------------------------------------

@pytest.fixture
def cli_env(database_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("KB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KB_DATABASE_URL", database_url)
    from kb.cli import main

    def run(*args, ok=True):
        result = CliRunner().invoke(main, ["user", *args], catch_exceptions=False)
        assert (result.exit_code == 0) == ok, (args, result.output)
        return result
    run("add", "somchai", "--role", "editor", "--password", "somchai-pass-1")
    run("add", "boss", "--role", "admin", "--password", "boss-pass-123")
    return run, database_url


def test_cli_tokens_revoke_disable_reset(cli_env):
    run, url = cli_env
    db = ReviewDB(url)
    out = run("token", "somchai", "--days", "2", "--label", "nightly")
    raw = out.stdout.strip().splitlines()[0]
    user = auth.resolve_token(db, raw)
    assert user["name"] == "somchai"
    with db.Session() as s:
        exp = s.get(Token, user["token_id"]).expires_at
    exp = exp if exp.tzinfo else exp.replace(tzinfo=timezone.utc)
    assert timedelta(days=1.9) < exp - datetime.now(timezone.utc) <= timedelta(days=2)
    listed = run("tokens", "somchai").stdout
    assert f"{user['token_id']}\tapi\tactive" in listed and "nightly" in listed
    run("revoke", "somchai", str(user["token_id"]))
    assert auth.check_token(db, raw)[1].startswith("รหัสเข้าใช้งาน (token) นี้ถูกยกเลิกแล้ว")
    assert run("tokens", "somchai").stdout == "" and "revoked" in run("tokens", "somchai", "--all").stdout
    assert "ไม่พบรหัสเข้าใช้งานหมายเลข" in run("revoke", "boss", str(user["token_id"]), ok=False).output
    assert run("revoke", "somchai", ok=False).exit_code == 2                    # ids or --all

    raw2 = run("token", "somchai").stdout.strip()
    assert "revoked 1" in run("revoke", "somchai", "--all").stdout and auth.resolve_token(db, raw2) is None

    raw3 = run("token", "somchai").stdout.strip()
    assert "disabled user somchai" in run("disable", "somchai").stdout
    assert auth.resolve_token(db, raw3) is None
    with pytest.raises(auth.LoginRefused) as refused:
        auth.login(db, "somchai", "somchai-pass-1")
    assert refused.value.status == 403
    assert "ถูกระงับ" in run("token", "somchai", ok=False).output
    assert "user\tsomchai" not in run("list").stdout and "somchai\teditor\tdisabled" in run("list").stdout
    run("enable", "somchai")
    assert auth.login(db, "somchai", "somchai-pass-1")["name"] == "somchai"

    raw4 = run("token", "somchai").stdout.strip()
    out = run("reset-password", "somchai", "--password", "somchai-pass-2")
    assert "revoked 1" in out.stdout and auth.resolve_token(db, raw4) is None
    assert auth.login(db, "somchai", "somchai-pass-2")["name"] == "somchai"
    # `add --update` (the older way to reset) revokes too
    raw5 = run("token", "somchai").stdout.strip()
    run("add", "somchai", "--role", "reviewer", "--password", "somchai-pass-3", "--update")
    assert auth.resolve_token(db, raw5) is None

    for args in (("disable", "nobody"), ("enable", "nobody"), ("reset-password", "nobody", "--password", "xxxxxxxx9"),
                 ("token", "nobody"), ("tokens", "nobody"), ("revoke", "nobody", "--all")):
        assert "ไม่พบผู้ใช้ชื่อ nobody" in run(*args, ok=False).output, args
    assert "คนสุดท้าย" in run("disable", "boss", ok=False).output
    assert "365" in run("token", "somchai", "--days", "1000", ok=False).output
    db.dispose()


def test_cli_unlock(cli_env):
    run, url = cli_env
    db = ReviewDB(url)
    for _ in range(5):
        with pytest.raises(auth.LoginRefused):
            auth.login(db, "somchai", "wrong-password", "10.2.2.2")
    with pytest.raises(auth.LoginRefused) as locked:
        auth.login(db, "somchai", "somchai-pass-1", "10.2.2.3")
    assert locked.value.status == 429 and THAI.search(str(locked.value))
    assert "unlocked somchai" in run("unlock", "somchai").stdout
    assert auth.login(db, "somchai", "somchai-pass-1", "10.2.2.3")["name"] == "somchai"
    assert "was not locked" in run("unlock", "somchai").stdout
    db.dispose()


# --- the schema: migrations -----------------------------------------------------------------------

def _old_database(url: str, with_jobs: bool = False) -> dict:
    """A database as the code before migrations made it (tests/review_schema_v0.py), with a user,
    an API token without expiry, a session, an assessment, a comment and an audit row."""
    import review_schema_v0 as v0
    engine = create_engine(url)
    v0.Base.metadata.create_all(engine)
    if with_jobs:     # made after the jobs table was added but before migrations existed
        from kb.review import JobRecord
        JobRecord.__table__.create(engine)
    raw = "old-api-token-123"
    with engine.begin() as conn:
        conn.execute(v0.User.__table__.insert().values(
            id=1, name="somsri", role="admin", password_hash=auth.hash_password("somsri-pass-1"),
            active=True, created_at=datetime(2024, 1, 5, tzinfo=timezone.utc)))
        conn.execute(v0.Token.__table__.insert().values(
            user_id=1, kind="api", token_hash=auth._token_hash(raw), label="old", csrf=None,
            created_at=datetime(2024, 1, 5, tzinfo=timezone.utc), expires_at=None))
        conn.execute(v0.Assessment.__table__.insert().values(
            id=1, agency="กรมเก่า", fiscal_year=2566, created_at=datetime(2024, 1, 5, tzinfo=timezone.utc)))
        conn.execute(v0.Comment.__table__.insert().values(
            assessment_id=1, code="1.1.1", author_id=1, text="ความเห็นเดิม",
            created_at=datetime(2024, 1, 6, tzinfo=timezone.utc)))
        conn.execute(v0.AuditEvent.__table__.insert().values(
            user_id=1, assessment_id=1, action="comment.add", detail={}, at=datetime(2024, 1, 6, tzinfo=timezone.utc)))
    engine.dispose()
    return {"token": raw}


def _schema_diff(url: str) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from kb.review import Base
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    return diff


@pytest.mark.parametrize("with_jobs", [False, True])
def test_an_old_database_is_upgraded_and_keeps_its_data(database_url, with_jobs):  # noqa: F811
    from kb import migrations
    old = _old_database(database_url, with_jobs)
    db = ReviewDB(database_url)
    with db.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
        tables = set(inspect(conn).get_table_names())
    assert {"jobs", "login_failures", "login_locks", "alembic_version"} <= tables
    assert _schema_diff(database_url) == []
    assert [u["name"] for u in db.users()] == ["somsri"]
    assert db.assessments()[0]["agency"] == "กรมเก่า"
    assert db.criterion(1, "1.1.1")["comments"][0]["text"] == "ความเห็นเดิม"
    assert auth.login(db, "somsri", "somsri-pass-1")["role"] == "admin"
    # the old token works, and now expires (KB_TOKEN_DAYS from the upgrade) and can be revoked
    user = auth.resolve_token(db, old["token"])
    assert user["name"] == "somsri"
    [listed] = auth.tokens(db, name="somsri")
    left = datetime.fromisoformat(listed["expires_at"]) - datetime.now(timezone.utc)
    assert timedelta(days=89) < left <= timedelta(days=90)
    assert auth.revoke_all(db, "somsri") == 1 and auth.resolve_token(db, old["token"]) is None
    db.dispose()
    assert ReviewDB(database_url).users()[0]["name"] == "somsri"          # opening again changes nothing


def test_the_migrations_alone_build_the_models_schema(database_url):  # noqa: F811
    """Revisions run from nothing give what the models say (so `create_all` + stamp for a new
    database and the upgrade of an old one end in the same schema)."""
    from alembic import command

    from kb import migrations
    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), "head")
    engine.dispose()
    assert _schema_diff(database_url) == []


def test_a_new_database_is_created_at_head(database_url):  # noqa: F811
    from kb import migrations
    db = ReviewDB(database_url)
    assert migrations.upgrade(db.engine) == "current"
    with db.engine.connect() as conn:
        assert migrations.current(conn) == migrations.head()
    assert _schema_diff(database_url) == []
    db.dispose()


def test_a_database_from_a_newer_version_is_refused(database_url):  # noqa: F811
    from kb import migrations
    ReviewDB(database_url).dispose()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(migrations.SchemaError, match="9999_future"):
        migrations.upgrade(engine)
    engine.dispose()


def test_processes_opening_an_old_database_at_once_upgrade_it_once(database_url):  # noqa: F811
    """The web workers and the ingest worker start together: one upgrades, the others wait."""
    from concurrent.futures import ThreadPoolExecutor

    from kb import migrations
    _old_database(database_url)
    engines = [create_engine(database_url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(migrations.upgrade, engines))
    for e in engines:
        e.dispose()
    assert outcomes == ["current"] * 3 + ["stamped+upgraded"], outcomes
    assert _schema_diff(database_url) == []
