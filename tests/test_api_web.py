"""The web app's routes through the real ASGI app: login, session cookie + CSRF, pages in Thai,
and the htmx fragments (same role checks as the JSON API, a 409 panel that keeps the text)."""
from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from review_support import USERS, ingested_kb, make_users  # noqa: F401

HX = {"HX-Request": "true"}


@pytest.fixture
def app(ingested_kb, tmp_path):  # noqa: F811
    a = create_app(kb=ingested_kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ",
                   fiscal_year=2564)
    with TestClient(a) as client:
        make_users(a.state.ctx.db)
        a.client = client
        yield a


def login(app, role: str) -> tuple[TestClient, dict]:
    """A fresh browser-like client logged in as `role`, and the CSRF header its pages carry."""
    c = TestClient(app)
    r = c.post("/login", data={"name": role, "password": USERS[role], "next": "/a/1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/a/1"
    cookie = r.headers["set-cookie"]
    assert "kb_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    page = c.get("/a/1").text
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)
    return c, {**HX, "X-CSRF-Token": csrf}


def test_pages_need_login_and_are_thai(app):
    c = app.client
    r = c.get("/a/1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/a/1"
    hx = c.get("/a/1/c/1.3.1/side", headers=HX)
    assert hx.status_code == 401
    page = c.get("/login")
    assert page.status_code == 200 and '<html lang="th">' in page.text and "เข้าสู่ระบบ" in page.text
    assert "/static/htmx.min.js" in page.text and "https://" not in page.text      # nothing from a CDN
    bad = c.post("/login", data={"name": "editor", "password": "nope"})
    assert bad.status_code == 401 and "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in bad.text
    # a login link cannot send the user to another site
    r = c.post("/login", data={"name": "editor", "password": USERS["editor"], "next": "//evil.example/x"},
               follow_redirects=False)
    assert r.headers["location"] == "/"

    browser, _ = login(app, "viewer")
    for url, text in [("/a/1", "หมวด 6"), ("/a/1/c/1.3.1", "หลักฐานที่แนะนำ"), ("/documents", "เอกสารหลักฐาน"),
                      ("/a/1/coverage", "แผนภาพความร้อน"), ("/search?q=e-Filing", "efiling-policy-2564.md")]:
        r = browser.get(url)
        assert r.status_code == 200 and text in r.text, url
    assert browser.get("/", follow_redirects=False).headers["location"] == "/a/1"
    assert browser.get("/a/1/c/9.9.9").status_code == 404
    assert "ไม่พบเกณฑ์รหัส 9.9.9" in browser.get("/a/1/c/9.9.9").text
    # a viewer is shown no buttons that would write
    crit = browser.get("/a/1/c/1.3.1").text
    assert "ยอมรับ</button>" not in crit and 'id="generate"' not in crit and 'id="upload-files"' not in browser.get("/documents").text
    for static in ("/static/htmx.min.js", "/static/app.css", "/static/fonts/sarabun-thai-400-normal.woff2"):
        assert browser.get(static).status_code == 200


def test_cookie_writes_need_the_csrf_token_and_the_role(app):
    editor, headers = login(app, "editor")
    cards = re.findall(r'id="ev-(\d+)"', editor.get("/a/1/c/1.3.1").text)
    assert cards
    no_csrf = editor.post(f"/a/1/c/1.3.1/evidence/{cards[0]}/accept", headers=HX)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    forged = editor.post(f"/a/1/c/1.3.1/evidence/{cards[0]}/accept", headers={**HX, "X-CSRF-Token": "guess"})
    assert forged.status_code == 403
    ok = editor.post(f"/a/1/c/1.3.1/evidence/{cards[0]}/accept", headers=headers, data={"note": "ใช้ได้"})
    assert ok.status_code == 200 and "evidence-card accepted" in ok.text and "ใช้ได้" in ok.text
    assert ok.headers["hx-trigger"] == "evidence-changed"
    # the role still decides: an editor cannot approve, even with a valid session
    denied = editor.post("/a/1/c/1.3.1/approve", headers=headers, data={"version": 1})
    assert denied.status_code == 403 and "ผู้ตรวจ" in denied.text
    viewer, vheaders = login(app, "viewer")
    assert viewer.post(f"/a/1/c/1.3.1/evidence/{cards[1]}/reject", headers=vheaders).status_code == 403
    # logging out ends the session
    assert editor.post("/logout", headers=headers).status_code == 204
    assert editor.get("/a/1", follow_redirects=False).status_code == 303


def test_draft_fragments_conflict_and_approval(app):
    editor, eh = login(app, "editor")
    reviewer, rh = login(app, "reviewer")
    card = re.findall(r'id="ev-(\d+)"', editor.get("/a/1/c/1.3.1").text)[0]
    editor.post(f"/a/1/c/1.3.1/evidence/{card}/accept", headers=eh)
    panel = editor.post("/a/1/c/1.3.1/draft/generate", headers=eh)
    assert panel.status_code == 200 and "ฉบับที่ 1" in panel.text and 'class="chip"' in panel.text
    src = editor.get("/a/1/c/1.3.1/source/1/1", headers=eh)
    assert src.status_code == 200 and "efiling-policy-2564.md" in src.text
    assert editor.get("/a/1/c/1.3.1/source/1/9", headers=eh).status_code == 404

    assert editor.post("/a/1/c/1.3.1/draft", headers=eh, data={"text": "ฉบับของผู้เขียน [1]",
                                                                "base_version": 1}).status_code == 200
    stale = reviewer.post("/a/1/c/1.3.1/draft", headers=rh, data={"text": "ข้อความผู้ตรวจที่ต้องไม่หาย",
                                                                  "base_version": 1})
    assert stale.status_code == 409
    assert "บันทึกไม่ได้" in stale.text and "ข้อความผู้ตรวจที่ต้องไม่หาย</textarea>" in stale.text
    assert 'name="base_version" value="2"' in stale.text         # saving again is a deliberate overwrite

    submitted = editor.post("/a/1/c/1.3.1/submit", headers=eh)
    assert "รอตรวจ" in submitted.text
    # the writer's sentence is flagged by the verifier: the panel comes back with a reason field
    refused = reviewer.post("/a/1/c/1.3.1/approve", headers=rh, data={"version": 2})
    assert refused.status_code == 409 and "อนุมัติไม่ได้" in refused.text and "ยังไม่ได้ยืนยัน" in refused.text
    flags = re.findall(r'name="flag" value="(\d+)"', refused.text)
    assert flags and "อนุมัติโดย" not in refused.text
    approved = reviewer.post("/a/1/c/1.3.1/approve", headers=rh,
                             data={"version": 2, "flag": flags, "reason": ["ตรวจกับต้นฉบับแล้ว"] * len(flags)})
    assert approved.status_code == 200 and "อนุมัติโดย reviewer" in approved.text
    assert "✓ ยืนยันโดย reviewer: ตรวจกับต้นฉบับแล้ว" in approved.text     # beside the flag it confirms
    side = reviewer.post("/a/1/c/1.3.1/comments", headers=rh, data={"text": "เรียบร้อยดี"})
    assert "เรียบร้อยดี" in side.text
    side = reviewer.post("/a/1/c/1.3.1/owner", headers=rh, data={"owner": "editor"})
    assert 'value="editor" selected' in side.text
    back = reviewer.post("/a/1/c/1.3.1/return", headers=rh, data={"note": "ขอเพิ่มตัวเลข"})
    assert "กำลังร่าง" in back.text
    tree = reviewer.get("/a/1").text
    assert 'class="crit st-drafting" href="/a/1/c/1.3.1"' in tree
    r = reviewer.get("/a/1/export?format=md")
    assert r.status_code == 200 and "**1.3.1**" in r.text


def test_upload_fragment_and_job_polling(kb, tmp_path, docs):
    a = create_app(kb=kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ", fiscal_year=2564)
    with TestClient(a):
        make_users(a.state.ctx.db)
        admin, h = login(a, "admin")
        wrong = admin.post("/documents/upload", headers=h, files={"files": ("x.exe", b"MZ", "application/octet-stream")})
        assert wrong.status_code == 415 and wrong.headers["content-type"].startswith("text/plain")
        r = admin.post("/documents/upload", headers=h,
                       files={"files": ("efiling-policy-2564.md", (docs / "efiling-policy-2564.md").read_bytes(),
                                        "text/markdown")})
        assert r.status_code == 200 and 'hx-trigger="every 1s"' in r.text
        job_id = re.search(r'id="job-(\w+)"', r.text).group(1)
        for _ in range(600):
            poll = admin.get(f"/jobs/{job_id}", headers=h)
            if 'data-state="done"' in poll.text:
                break
            time.sleep(0.1)
        assert "every 1s" not in poll.text and poll.headers["hx-trigger"] == "documents-changed"
        table = admin.get("/documents/table", headers=h).text
        assert "efiling-policy-2564.md" in table and "พร้อมใช้" in table
        doc_id = re.search(r'hx-post="/documents/([^/]+)/delete"', table).group(1)
        after = admin.post(f"/documents/{doc_id}/delete", headers=h)
        assert after.status_code == 200 and "ยังไม่มีเอกสาร" in after.text
