"""Fixtures for the review service tests: both databases, an ingested store, a logged-in client.

The PostgreSQL server is real: a throwaway cluster made with initdb under a temp dir and
started with pg_ctl on a free loopback port (as the `postgres` user when the tests run as root,
since PostgreSQL refuses to run as root). KB_TEST_POSTGRES_URL points the tests at an existing
server instead. Without the binaries the postgres cases are skipped, loudly.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from pathlib import Path

import pytest

_counter = itertools.count()


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(d, "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres_server():
    """A base URL (postgresql://…/) of a running server, or skip."""
    if os.environ.get("KB_TEST_POSTGRES_URL"):
        yield os.environ["KB_TEST_POSTGRES_URL"].rstrip("/")
        return
    bindir = _pg_bin()
    if bindir is None:
        msg = ("PostgreSQL binaries (initdb, pg_ctl) not found: the PostgreSQL half of the review "
               "tests is SKIPPED. Install them with: apt-get install -y postgresql")
        warnings.warn(msg)
        pytest.skip(msg)
    root = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C.UTF-8"]), check=True, capture_output=True)
    log = root / "server.log"
    opts = f"-p {port} -k {sock} -h 127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    start = subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
                                         "-w", "-t", "60", "start"]), capture_output=True, text=True)
    if start.returncode != 0:
        raise RuntimeError(f"pg_ctl start failed: {start.stderr}\n{log.read_text() if log.exists() else ''}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _fresh_postgres_db(base: str) -> str:
    import psycopg
    name = f"kb_test_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A fresh, empty review database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'review.sqlite'}"
    return _fresh_postgres_db(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="module")
def ingested_kb(tmp_path_factory):
    """One KnowledgeBase over the conftest's four small documents, shared by a module's tests
    (embedding them is the slow part)."""
    from dataclasses import replace

    from kb.config import Settings
    from kb.service import KnowledgeBase
    root = tmp_path_factory.mktemp("kb")
    docs = sample_docs(root)
    base = KnowledgeBase(replace(Settings(), data_dir=root / "data", chroma_url=None))
    summary = base.ingest([docs], progress=False)
    assert summary.ingested == 4, summary.line()
    yield base
    base.store.close()


def suggest_now(app, *codes: str, aid: int = 1) -> None:
    """Evidence suggestions for these criteria, as the worker computes them after an ingest
    (viewing a criterion never does)."""
    from kb import workflow
    c = app.state.ctx
    for code in codes:
        workflow.suggest(c.kb, c.db, aid, code)


def sample_docs(root: Path) -> Path:
    """The folder conftest's `docs` fixture makes (a fixture cannot be shared across scopes,
    so its function is called directly)."""
    import conftest
    return conftest.docs.__wrapped__(root)


USERS = {"viewer": "viewer-pass-1", "editor": "editor-pass-1", "reviewer": "reviewer-pass-1",
         "admin": "admin-pass-123"}


def make_users(db) -> None:
    from kb import auth
    for role, password in USERS.items():
        auth.add_user(db, role, password, role)


# --- logging in, as the web and API tests do it -----------------------------------------------------

HX = {"HX-Request": "true"}


def login(app, role: str):
    """A fresh browser-like client logged in as `role` (one of USERS), and the headers its htmx
    requests carry (HX-Request and the page's CSRF token). Needs assessment 1 (create_app makes it)."""
    import re

    from fastapi.testclient import TestClient
    c = TestClient(app)
    r = c.post("/login", data={"name": role, "password": USERS[role], "next": "/a/1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/a/1"
    cookie = r.headers["set-cookie"]
    assert "kb_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = c.get("/a/1").text
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)
    return c, {**HX, "X-CSRF-Token": csrf}


def bearer(client, role: str) -> dict:
    """The Authorization header of a new API token for `role` (one of USERS)."""
    r = client.post("/api/tokens", json={"name": role, "password": USERS[role]})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def browser_login(page, url: str, name: str, password: str) -> None:
    """Log in through the login form in a Playwright page, as a person does; returns once the
    page after it (the criteria tree) is there."""
    page.goto(url + "/login")
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("a.crit")


from printed import FONT as THAI_FONT                     # noqa: E402  (one Thai font for all tests)


def thai_pdf(path: Path, pages: list[list[tuple[float | None, str]]]) -> Path:
    """A text PDF in a Thai font: per page, (y in mm or None for the next line, text) blocks —
    where a passage sits on its page is what a highlight test checks."""
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_font("Garuda", fname=str(THAI_FONT))
    pdf.set_font("Garuda", size=14)
    for blocks in pages:
        pdf.add_page()
        for y, text in blocks:
            if y is not None:
                pdf.set_y(y)
            pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path
