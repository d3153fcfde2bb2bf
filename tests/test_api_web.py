"""The web app's routes through the real ASGI app: login, session cookie + CSRF, pages in Thai,
and the htmx fragments (same role checks as the JSON API, a 409 panel that keeps the text)."""
from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from review_support import HX, USERS, ingested_kb, login, make_users, suggest_now  # noqa: F401


@pytest.fixture
def app(ingested_kb, tmp_path):  # noqa: F811
    a = create_app(kb=ingested_kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ",
                   fiscal_year=2564)
    with TestClient(a) as client:
        make_users(a.state.ctx.db)
        suggest_now(a, "1.3.1")
        a.client = client
        yield a


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
    assert "ส่งกลับแก้ไข" in back.text
    tree = reviewer.get("/a/1").text
    assert 'class="crit st-returned" href="/a/1/c/1.3.1"' in tree
    r = reviewer.get("/a/1/export?format=md")
    assert r.status_code == 200 and "**1.3.1**" in r.text


def _approve(reviewer, rh, version: int) -> str:
    """Approve `version` as the reviewer, confirming the flags their approve form asks about."""
    flags = re.findall(r'name="flag" value="(\d+)"', reviewer.get("/a/1/c/1.3.1").text)
    r = reviewer.post("/a/1/c/1.3.1/approve", headers=rh,
                      data={"version": version, "flag": flags, "reason": ["ตรวจแล้ว"] * len(flags)})
    assert r.status_code == 200 and "อนุมัติโดย reviewer" in r.text, r.text
    return r.text


def test_a_new_draft_sits_beside_the_approved_answer(app):
    editor, eh = login(app, "editor")
    reviewer, rh = login(app, "reviewer")
    card = re.findall(r'id="ev-(\d+)"', editor.get("/a/1/c/1.3.1").text)[0]
    editor.post(f"/a/1/c/1.3.1/evidence/{card}/accept", headers=eh)
    editor.post("/a/1/c/1.3.1/draft/generate", headers=eh)
    editor.post("/a/1/c/1.3.1/draft", headers=eh, data={"text": "ข้อความที่ผู้ตรวจอนุมัติ [1]", "base_version": 1})
    editor.post("/a/1/c/1.3.1/submit", headers=eh)
    _approve(reviewer, rh, 2)

    panel = editor.post("/a/1/c/1.3.1/draft/generate", headers=eh)
    assert panel.status_code == 200 and "อนุมัติแล้ว" in panel.text
    for page in (panel.text, editor.get("/a/1/c/1.3.1").text):
        # the approved text is shown as the answer, the machine draft beside it, labelled
        assert 'id="approved-answer"' in page and "คำตอบที่อนุมัติแล้ว (ฉบับที่ 2)" in page
        assert "ข้อความที่ผู้ตรวจอนุมัติ" in page and "/source/2/1" in page
        assert "ร่างใหม่จากระบบ (ฉบับที่ 3) — ยังไม่แทนคำตอบที่อนุมัติแล้ว" in page
        assert 'id="take-up"' in page and "ใช้ร่างนี้แก้ไขต่อ" in page
        assert 'id="draft-text"' not in page and 'id="submit-review"' not in page
    assert 'id="take-up"' not in login(app, "viewer")[0].get("/a/1/c/1.3.1").text
    md = reviewer.get("/a/1/export?format=md").text
    assert "- ☑ **1.3.1**" in md and "ข้อความที่ผู้ตรวจอนุมัติ" in md

    taken = editor.post("/a/1/c/1.3.1/take-up", headers=eh, data={"version": 3})
    assert taken.status_code == 200 and "กำลังร่าง" in taken.text
    assert "คำตอบที่อนุมัติแล้ว (ฉบับที่ 2)" in taken.text and 'id="take-up"' not in taken.text
    assert 'id="draft-text"' in taken.text and 'name="base_version" value="3"' in taken.text
    assert "ข้อความที่ผู้ตรวจอนุมัติ" in reviewer.get("/a/1/export?format=md").text
    assert editor.post("/a/1/c/1.3.1/take-up", headers=eh, data={"version": 3}).status_code == 422

    assert "รอตรวจ" in editor.post("/a/1/c/1.3.1/submit", headers=eh).text
    assert "แทนคำตอบที่อนุมัติไว้ (ฉบับที่ 2)" in reviewer.get("/a/1/c/1.3.1").text
    done = _approve(reviewer, rh, 3)
    assert 'id="approved-answer"' not in done and "ยังไม่แทนคำตอบ" not in done    # v3 is the answer now
    md = reviewer.get("/a/1/export?format=md").text
    assert "- ☑ **1.3.1**" in md and "ข้อความที่ผู้ตรวจอนุมัติ" not in md


def test_upload_fragment_and_job_polling(upload_kb, tmp_path, docs):
    a = create_app(kb=upload_kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ", fiscal_year=2564,
                   immediate_jobs=True)
    with TestClient(a):
        make_users(a.state.ctx.db)
        admin, h = login(a, "admin")
        wrong = admin.post("/documents/upload", headers=h, files={"files": ("x.exe", b"MZ", "application/octet-stream")})
        assert wrong.status_code == 200 and "ไม่ได้รับไฟล์ใดไว้" in wrong.text and "ไม่รองรับชนิดไฟล์ .exe" in wrong.text
        assert 'id="job-' not in wrong.text and "hx-trigger" not in wrong.headers
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


# --- uploads: each file accepted or refused on its own -------------------------------------------

@pytest.fixture
def upload_kb(kb, monkeypatch):
    """A fresh store (uploads change it). After each ingest the KB also scores every document
    against all 94 criteria (`generality`, for the evidence ranking): on a fresh store that
    embeds every criterion's queries, minutes on a busy machine, and no upload test needs it.
    Files are still loaded, chunked, embedded and stored as usual."""
    monkeypatch.setattr(kb, "generality", lambda: None)
    # jobs run inside the request here (tests/test_jobs.py runs them in a real worker process),
    # without the suggestion job that follows an ingest: no test here reads suggestions
    monkeypatch.setenv("KB_SUGGEST_AFTER_INGEST", "0")
    return kb


@pytest.fixture
def upload_app(upload_kb, tmp_path):
    """Small limits: 64 KB a file, 3 files an upload."""
    from api.context import Limits
    a = create_app(kb=upload_kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ", fiscal_year=2564,
                   limits=Limits(upload_bytes=64 * 1024, files_per_upload=3), immediate_jobs=True)
    with TestClient(a):
        make_users(a.state.ctx.db)
        yield a


def _finish(client, h, fragment: str) -> str:
    """Poll the job the upload fragment started until it is done; its last fragment."""
    job_id = re.search(r'id="job-(\w+)"', fragment).group(1)
    deadline = time.monotonic() + 300                               # a busy test machine is slow
    while time.monotonic() < deadline:
        poll = client.get(f"/jobs/{job_id}", headers=h).text
        if 'data-state="done"' in poll:
            return poll
        time.sleep(0.1)
    raise AssertionError(poll)


def _refusals(fragment: str) -> dict[str, str]:
    return dict(re.findall(r'<li class="refused" data-file="([^"]+)">([^<]+)</li>', fragment))


def test_upload_form_states_the_limits(upload_app):
    editor, _ = login(upload_app, "editor")
    page = editor.get("/documents").text
    assert "ครั้งละไม่เกิน 3 ไฟล์" in page and "ไฟล์ละไม่เกิน 64 KB" in page and ".docx" in page
    form = re.search(r'<form id="upload-form"[^>]*>', page).group(0)
    assert 'data-max-files="3"' in form and f'data-max-bytes="{64 * 1024}"' in form   # for the check in app.js


def test_upload_an_empty_file_beside_a_good_one(upload_app, docs, tmp_path):
    editor, h = login(upload_app, "editor")
    good = (docs / "green-office-2564.txt").read_bytes()
    r = editor.post("/documents/upload", headers=h, files=[("files", ("ว่าง.md", b"", "text/markdown")),
                                                           ("files", ("green-office-2564.txt", good, "text/plain"))])
    assert r.status_code == 200
    refused = _refusals(r.text)
    assert list(refused) == ["ว่าง.md"]
    reason = refused["ว่าง.md"]
    assert "ว่าง.md" in reason and "ไฟล์ว่าง" in reason
    assert str(tmp_path) not in r.text and "Error" not in r.text and "Traceback" not in r.text
    assert "✓ green-office-2564.txt" in _finish(editor, h, r.text)
    table = editor.get("/documents/table", headers=h).text
    assert 'data-file="green-office-2564.txt"' in table and "พร้อมใช้" in table and "ว่าง.md" not in table
    assert sorted(p.name for p in upload_app.state.ctx.upload_dir.iterdir()) == ["green-office-2564.txt"]


def test_upload_more_files_than_the_limit(upload_app):
    editor, h = login(upload_app, "editor")
    files = [("files", (f"note-{i}.txt", f"บันทึกการประชุมครั้งที่ {i} เรื่องการลดขยะในสำนักงาน".encode(), "text/plain"))
             for i in range(1, 6)]
    r = editor.post("/documents/upload", headers=h, files=files)
    assert r.status_code == 200
    refused = _refusals(r.text)
    assert list(refused) == ["note-4.txt", "note-5.txt"]             # the first 3 are taken, in order
    assert all(name in why and "ครั้งละไม่เกิน 3 ไฟล์" in why for name, why in refused.items())
    done = _finish(editor, h, r.text)
    assert all(f"✓ note-{i}.txt" in done for i in (1, 2, 3)) and "note-4.txt" not in done
    assert sorted(p.name for p in upload_app.state.ctx.upload_dir.iterdir()) == ["note-1.txt", "note-2.txt", "note-3.txt"]


def test_a_refused_file_leaves_the_stored_one_alone(upload_app, docs):
    editor, h = login(upload_app, "editor")
    stored = (docs / "green-office-2564.txt").read_bytes()
    _finish(editor, h, editor.post("/documents/upload", headers=h,
                                   files={"files": ("green-office-2564.txt", stored, "text/plain")}).text)
    path = upload_app.state.ctx.upload_dir / "green-office-2564.txt"
    # same name, too big; an empty one of the same name; and a good new file in the same batch
    r = editor.post("/documents/upload", headers=h, files=[
        ("files", ("green-office-2564.txt", b"x" * (64 * 1024 + 1), "text/plain")),
        ("files", ("efiling-policy-2564.md", (docs / "efiling-policy-2564.md").read_bytes(), "text/markdown"))])
    refused = _refusals(r.text)
    assert list(refused) == ["green-office-2564.txt"] and "64 KB" in refused["green-office-2564.txt"]
    assert "✓ efiling-policy-2564.md" in _finish(editor, h, r.text)
    r = editor.post("/documents/upload", headers=h, files={"files": ("green-office-2564.txt", b"", "text/plain")})
    assert list(_refusals(r.text)) == ["green-office-2564.txt"] and 'id="job-' not in r.text
    assert path.read_bytes() == stored                               # byte for byte what was stored
    assert sorted(p.name for p in path.parent.iterdir()) == ["efiling-policy-2564.md", "green-office-2564.txt"]


def _spy_temp_files(monkeypatch) -> list:
    """Every temporary file Starlette's multipart parser opens for an uploaded part."""
    import starlette.formparsers as formparsers
    opened, real = [], formparsers.SpooledTemporaryFile

    def spy(*args, **kwargs):
        opened.append(args or kwargs)
        return real(*args, **kwargs)
    monkeypatch.setattr(formparsers, "SpooledTemporaryFile", spy)
    return opened


def test_upload_credentials_are_checked_before_the_body_is_read(upload_app, monkeypatch):
    opened = _spy_temp_files(monkeypatch)
    # over the 1 MB Starlette keeps in memory (so parsing it would write a temporary file on
    # disk), under the Content-Length cap (3 files × 64 KB + 1 MB)
    body = {"files": ("big.txt", b"x" * (1100 * 1024), "text/plain")}
    anonymous = TestClient(upload_app).post("/documents/upload", headers=HX, files=body)
    assert anonymous.status_code == 401
    viewer, vh = login(upload_app, "viewer")
    assert viewer.post("/documents/upload", headers=vh, files=body).status_code == 403
    editor, eh = login(upload_app, "editor")
    no_csrf = editor.post("/documents/upload", headers=HX, files=body)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.text
    assert opened == []                                              # not one part was parsed or spooled
    assert editor.post("/documents/upload", headers=eh, files=body).status_code == 200
    assert len(opened) == 1                                          # the spy does see an accepted request


# --- what an officer reads: Thai dates, Thai history, no jargon, a page a keyboard can use ---------

THAI_DATE = re.compile(r"(\d{1,2}) (ม\.ค\.|ก\.พ\.|มี\.ค\.|เม\.ย\.|พ\.ค\.|มิ\.ย\.|ก\.ค\.|ส\.ค\.|ก\.ย\.|ต\.ค\.|พ\.ย\.|ธ\.ค\.) "
                       r"(\d{4}) \d\d:\d\d")


def _visible(html: str) -> str:
    """The text a person sees: tags (with their attributes, URLs, ids, codes) taken out."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_history_dates_and_drafters_read_as_thai(app):
    from datetime import datetime, timedelta, timezone

    from kb.workflow import AUDIT_TH
    this_year_be = str(datetime.now(timezone(timedelta(hours=7))).year + 543)
    editor, eh = login(app, "editor")
    page = editor.get("/a/1/c/1.3.1").text
    card = re.findall(r'id="ev-(\d+)"', page)[0]
    decided = editor.post(f"/a/1/c/1.3.1/evidence/{card}/accept", headers=eh).text
    assert 'tabindex="-1"' in decided              # app.js can put focus back on the new card
    assert THAI_DATE.search(decided).group(3) == this_year_be
    editor.post("/a/1/c/1.3.1/draft/generate", headers=eh)
    editor.post("/a/1/c/1.3.1/comments", headers=eh, data={"text": "ดูแล้ว"})
    page = editor.get("/a/1/c/1.3.1").text

    history = page.split("ประวัติการเปลี่ยนแปลง", 1)[1]
    lines = re.findall(r"<li>(.*?)</li>", history)
    assert len(lines) >= 4 and all(THAI_DATE.match(li) and THAI_DATE.match(li).group(3) == this_year_be
                                   for li in lines), lines
    for label in ("ยอมรับหลักฐาน · ", "เปลี่ยนสถานะ จาก “ยังไม่เริ่ม” เป็น “กำลังร่าง”",
                  "สร้างร่างคำตอบอัตโนมัติ ฉบับที่ 1 (คัดจากหลักฐาน)", "เพิ่มความเห็น"):
        assert label in history, label
    # no action code, no drafter code, no ISO date anywhere a person reads
    text = _visible(page)
    assert not [code for code in AUDIT_TH if code in page]
    assert "extractive" not in text and "สร้างอัตโนมัติ (คัดจากหลักฐาน)" in text
    assert not re.search(r"\d{4}-\d\d-\d\d", text)
    assert re.search(rf"editor {THAI_DATE.pattern} ดูแล้ว", text)        # the comment's date too


def test_skip_link_first_and_no_jargon_on_the_pages(app):
    viewer, _ = login(app, "viewer")
    admin, _ = login(app, "admin")
    page = viewer.get("/a/1").text
    body = page.split("<body", 1)[1]
    first = re.search(r"<(?:a|button|input|select|textarea|summary)\b[^>]*>[^<]*", body)
    assert first.group(0) == '<a class="skip-link" href="#main">ข้ามไปยังเนื้อหาหลัก'
    assert '<main id="main" tabindex="-1">' in page
    model = app.state.ctx.kb.store.stats()["embed_model"]
    assert model
    for url in ("/a/1", "/a/1/c/1.3.1", "/documents", "/documents/table", "/a/1/coverage", "/search?q=e-Filing"):
        r = viewer.get(url, headers=HX if url == "/documents/table" else None)
        text = _visible(r.text)
        for word in ("ส่วนข้อความ", "คะแนน", "extractive", "(CLI)", "API", "DOCX", model):
            assert word not in text, (url, word)
    assert "ช่วงข้อความ" in _visible(viewer.get("/documents").text)
    assert "เกี่ยวข้องอันดับที่ 1" in _visible(viewer.get("/a/1/c/1.3.1").text)
    # the search model's name is for the administrator, out of the way
    tech = re.search(r'<details class="small muted tech">.*?</details>', admin.get("/documents").text, re.S)
    assert tech and model in tech.group(0)


def test_a_card_accepted_before_its_document_changed_says_so(upload_kb, docs, tmp_path):
    from kb import workflow
    upload_kb.ingest([docs], progress=False)
    a = create_app(kb=upload_kb, database=f"sqlite:///{tmp_path / 'r.sqlite'}", agency="กรมทดสอบ",
                   fiscal_year=2564, immediate_jobs=True)
    with TestClient(a):
        make_users(a.state.ctx.db)
        workflow.suggest(upload_kb, a.state.ctx.db, 1, "1.1.1", force=True)
        link = next(x for x in a.state.ctx.db.criterion(1, "1.1.1")["evidence"]
                    if x["file_name"] == "green-office-2564.txt")
        editor, h = login(a, "editor")
        ok = editor.post(f"/a/1/c/1.1.1/evidence/{link['id']}/accept", headers=h)
        assert ok.status_code == 200 and "เอกสารเปลี่ยนไปหลังการยอมรับ" not in ok.text
        f = docs / "green-office-2564.txt"
        f.write_text(f.read_text(encoding="utf-8").replace("ร้อยละ 12", "ร้อยละ 31"), encoding="utf-8")
        upload_kb.ingest([docs], progress=False)
        page = editor.get("/a/1/c/1.1.1").text
        card = page[page.index(f'id="ev-{link["id"]}"'):]
        card = card[:card.index("</article>")]
        assert "เอกสารเปลี่ยนไปหลังการยอมรับ" in card and "ร้อยละ 31" in card and "ร้อยละ 12" in card
        assert f'evidence/{link["id"]}/accept-new' in card
        renewed = editor.post(f"/a/1/c/1.1.1/evidence/{link['id']}/accept-new", headers=h)
        assert renewed.status_code == 200
        assert "เอกสารเปลี่ยนไปหลังการยอมรับ" not in renewed.text and "ร้อยละ 31" in renewed.text


def test_a_file_sent_again_is_a_new_version_with_who_and_when(upload_app, docs):
    admin, h = login(upload_app, "admin")
    editor, eh = login(upload_app, "editor")
    body = (docs / "green-office-2564.txt").read_bytes()
    _finish(admin, h, admin.post("/documents/upload", headers=h,
                                 files={"files": ("green-office-2564.txt", body, "text/plain")}).text)
    table = admin.get("/documents/table", headers=h).text
    assert "green-office-2564.txt" in table and "ฉบับที่" not in table
    again = body.replace("ร้อยละ 12".encode(), "ร้อยละ 31".encode())
    _finish(editor, eh, editor.post("/documents/upload", headers=eh,
                                    files={"files": ("green-office-2564.txt", again, "text/plain")}).text)
    table = admin.get("/documents/table", headers=h).text
    assert table.count('data-file="green-office-2564.txt"') == 1        # one document, two versions
    history = table[table.index('class="small versions"'):]
    history = history[:history.index("</details>")]
    assert "ฉบับที่ 2" in history and history.index("admin") < history.index("editor")
    assert re.search(r"25\d\d", history)                                   # dates in พ.ศ.


def test_a_file_from_the_command_line_uploaded_again_is_one_document(upload_app, upload_kb, docs):
    upload_kb.ingest([docs], progress=False)                    # `kb ingest docs` by an administrator
    first = upload_kb.store.find_documents("green-office-2564.txt")
    assert len(first) == 1
    editor, h = login(upload_app, "editor")
    body = (docs / "green-office-2564.txt").read_bytes().replace("ร้อยละ 12".encode(), "ร้อยละ 31".encode())
    _finish(editor, h, editor.post("/documents/upload", headers=h,
                                   files={"files": ("green-office-2564.txt", body, "text/plain")}).text)
    now = upload_kb.store.find_documents("green-office-2564.txt")
    assert [r["doc_id"] for r in now] == [first[0]["doc_id"]] and now[0]["sha256"] != first[0]["sha256"]
    assert len(upload_kb.store.documents()) == 4
    table = editor.get("/documents/table", headers=h).text
    assert table.count('data-file="green-office-2564.txt"') == 1
    assert upload_kb.search("ร้อยละ 31", k=1)[0].file_name == "green-office-2564.txt"
