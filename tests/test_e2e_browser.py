"""A reviewer's whole job in a real browser: Playwright driving Debian's Chromium against the app
served by uvicorn on 127.0.0.1, as `kb serve` serves it, with a `kb worker` process beside it
that ingests the document uploaded in the browser.

Screenshots go to tests/artifacts/ (every run) and docs/screenshots/ (the README's pictures);
08- and 09- are a phone's 390 px.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from review_support import THAI_FONT, browser_login, sample_docs, suggest_now, thai_pdf

CHROMIUM = "/usr/bin/chromium"
# Offline: without these Chromium keeps trying to reach Google's services, which this network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "admin-pass-123"

pytestmark = pytest.mark.slow

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:          # pragma: no cover - the test extra installs it
    sync_playwright = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install playwright): browser test SKIPPED")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium): browser test SKIPPED")
    import uvicorn

    from api.app import create_app
    from kb import auth
    from kb.config import Settings
    from kb.service import KnowledgeBase
    root = tmp_path_factory.mktemp("e2e")
    docs = sample_docs(root)
    later = root / "later"
    later.mkdir()
    shutil.move(docs / "led-queue-2564.xlsx", later / "led-queue-2564.xlsx")    # uploaded in the browser
    kb = KnowledgeBase(replace(Settings(), data_dir=root / "data", chroma_url=None))
    kb.ingest([docs], progress=False)
    database = f"sqlite:///{root / 'review.sqlite'}"
    app = create_app(kb=kb, database=database, agency="กรมบังคับคดี", fiscal_year=2564)
    # the worker that ingests uploads; the suggestions it would compute for all 94 criteria after
    # an ingest are left out, so the coverage page below shows exactly what the reviewer did
    env = {**os.environ, "KB_DATA_DIR": str(root / "data"), "KB_DATABASE_URL": database,
           "KB_SUGGEST_AFTER_INGEST": "0"}
    env.pop("KB_CHROMA_URL", None)
    env.pop("KB_QUEUE_URL", None)
    log = root / "worker.log"
    kb_cli = Path(sys.executable).with_name("kb")
    with log.open("wb") as out:
        worker = subprocess.Popen([str(kb_cli), "worker"] if kb_cli.exists() else
                                  [sys.executable, "-m", "kb.cli", "worker"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    auth.add_user(app.state.ctx.db, "somsri", PASSWORD, "admin")
    auth.add_user(app.state.ctx.db, "wichai", PASSWORD, "reviewer")
    suggest_now(app, "1.3.1")           # as the worker does after an ingest
    while "worker for" not in log.read_text(errors="replace"):
        assert worker.poll() is None and time.monotonic() < deadline + 120, log.read_text(errors="replace")
        time.sleep(0.1)
    yield {"url": f"http://127.0.0.1:{port}", "upload": later / "led-queue-2564.xlsx", "kb": kb, "app": app}
    worker.send_signal(signal.SIGINT)
    try:
        worker.wait(60)
    except subprocess.TimeoutExpired:
        worker.kill()
    srv.should_exit = True
    thread.join(timeout=10)
    kb.store.close()


def shot(page, name: str, full_page: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    shutil.copy(ARTIFACTS / f"{name}.png", SCREENSHOTS / f"{name}.png")


def test_reviewer_does_the_whole_job_in_the_browser(server, tmp_path):
    url = server["url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 860}, locale="th-TH", accept_downloads=True)
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        requests_elsewhere: list[str] = []
        page.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:")) else requests_elsewhere.append(r.url))

        # log in (a wrong password first)
        page.goto(url + "/")
        expect(page).to_have_url(url + "/login?next=/")
        page.fill("#name", "somsri")
        page.fill("#password", "wrong-password")
        page.click("button[type=submit]")
        expect(page.locator(".err")).to_contain_text("ไม่ถูกต้อง")
        page.fill("#password", PASSWORD)
        shot(page, "01-login")
        page.click("button[type=submit]")

        # the criteria tree
        expect(page.locator("h1")).to_contain_text("แบบฟอร์มที่ 3 · ปีงบประมาณ 2564")
        expect(page.locator("a.crit")).to_have_count(94)
        assert page.evaluate("document.fonts.check('16px Sarabun', 'ก')"), "the Sarabun font did not load"
        shot(page, "02-criteria-tree")

        # a criterion: accept one passage, reject another
        page.click("a.crit[data-code='1.3.1']")
        expect(page.locator("h1")).to_have_text("เกณฑ์ 1.3.1")
        cards = page.locator("article.evidence-card")
        expect(cards.first).to_be_visible()
        first = cards.first.get_attribute("id")
        assert "efiling-policy-2564.md" in cards.first.inner_text()
        expect(page.locator(f"#{first} mark")).not_to_have_count(0)           # the best sentence, highlighted
        page.locator(f"#{first} input[name=note]").fill("ตรงประเด็น")
        # by keyboard: after the card is replaced, focus stays on it (not at the top of the page)
        page.locator(f"#{first}").get_by_role("button", name="ยอมรับ").focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#{first}")).to_have_class("card evidence-card accepted")
        expect(page.locator(f"#{first}")).to_be_focused()
        page.keyboard.press("Tab")
        assert page.evaluate(f"document.activeElement.closest('#{first}') !== null"), "Tab left the card"
        canteen = page.locator("article.evidence-card", has_text="canteen-menu.html")
        canteen_id = canteen.get_attribute("id")
        canteen.get_by_role("button", name="ปฏิเสธ").click()
        expect(page.locator(f"#{canteen_id}")).to_have_class("card evidence-card rejected")
        expect(page.locator("#evidence-counts")).to_contain_text("ยอมรับ 1 · ปฏิเสธ 1")

        # generate a draft from the accepted evidence; a citation chip opens its passage
        page.click("#generate")
        expect(page.locator(".version-line")).to_contain_text("ฉบับที่ 1")
        expect(page.locator("#draft-view .sent.supported")).not_to_have_count(0)
        page.locator("#draft-view .chip").first.click()
        expect(page.locator("#passage-dialog")).to_be_visible()
        expect(page.locator("#passage-body")).to_contain_text("efiling-policy-2564.md")
        shot(page, "03-citation-passage")
        page.locator("#passage-dialog button").click()

        # edit: an invented figure is flagged inline by the verifier
        text = page.locator("#draft-text").input_value()
        page.fill("#draft-text", text + "\n  2. มีผู้ยื่นคำร้องผ่านระบบ 99,999 คำร้อง [1]")
        page.click("#save-draft")
        expect(page.locator(".version-line")).to_contain_text("ฉบับที่ 2")
        expect(page.locator("#draft-view .sent.unsupported .problems")).to_contain_text("99,999")
        shot(page, "04-draft-verifier-flags")
        # sent for review; the writer cannot approve her own edit
        page.click("#submit-review")
        expect(page.locator("#status-pill")).to_have_text("รอตรวจ")
        page.click("#approve")
        expect(page.locator("#approve-refused")).to_contain_text("อนุมัติเองไม่ได้")

        # another reviewer: approval is blocked until the flagged sentence is confirmed with a reason
        other = browser.new_page(viewport={"width": 1360, "height": 860}, locale="th-TH")
        other.set_default_timeout(30_000)
        browser_login(other, url, "wichai", PASSWORD)
        other.click("a.crit[data-code='1.3.1']")
        other.click("#approve")
        expect(other.locator("#approve-refused")).to_contain_text("ยังไม่ได้ยืนยัน 1 ประโยค")
        expect(other.locator("#status-pill")).to_have_text("รอตรวจ")
        shot(other, "05a-approval-blocked-by-flag")
        other.fill(".flag-reason", "ตรวจกับทะเบียนคำร้องฉบับจริงแล้ว")
        other.click("#approve")
        expect(other.locator("#draft-card .pill")).to_have_text("อนุมัติแล้ว")
        expect(other.locator(".version-line")).to_contain_text("อนุมัติโดย wichai")
        expect(other.locator("#draft-view .confirmed")).to_contain_text("ตรวจกับทะเบียนคำร้องฉบับจริงแล้ว")
        other.evaluate("window.scrollTo(0, 0)")
        shot(other, "05-criterion-approved")
        other.close()

        # upload a document and watch it ingest
        page.goto(url + "/documents")
        page.set_input_files("#upload-files", str(server["upload"]))
        page.click("#upload-button")
        job = page.locator(".job").first
        expect(job).to_have_attribute("data-state", "done", timeout=90_000)
        expect(job).to_contain_text("led-queue-2564.xlsx")
        row = page.locator("tr[data-file='led-queue-2564.xlsx']")
        expect(row).to_contain_text("พร้อมใช้")
        shot(page, "06-documents-upload")

        # coverage: 1.3.1 has evidence, so it is listed after the criteria that have none
        page.goto(url + "/")
        page.click("text=ความครอบคลุม")
        expect(page.locator("#heatmap tbody tr")).to_have_count(24)
        expect(page.locator("#gaps tbody tr").last).to_contain_text("1.3.1")
        shot(page, "07-coverage")

        # a phone, 390 px wide: the menu wraps so every entry is on screen, no page scrolls
        # sideways, and the skip link is the first thing Tab reaches
        page.set_viewport_size({"width": 390, "height": 844})
        for path in ("/", "/a/1/c/1.3.1", "/documents", "/a/1/coverage", "/search?q=e-Filing"):
            page.goto(url + path)
            scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert scroll <= inner, f"{path} scrolls sideways at 390 px: {scroll} > {inner}"
            entries = page.locator(".topbar nav a, .topbar input[type=search], .topbar .who button")
            assert entries.count() >= 5, path           # three or four links, search, log out
            for entry in entries.all():
                box = entry.bounding_box()
                assert box and 0 <= box["x"] and box["x"] + box["width"] <= inner, (path, entry.inner_text())
        shot(page, "08-phone-search-menu")
        page.goto(url + "/a/1/c/1.3.1")
        page.keyboard.press("Tab")
        expect(page.locator(".skip-link")).to_be_focused()
        shot(page, "09-phone-skip-link")
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
        page.set_viewport_size({"width": 1360, "height": 860})

        # export the completed form
        page.goto(url + "/")
        with page.expect_download() as download:
            page.click("#export-docx")
        path = tmp_path / "form.docx"
        download.value.save_as(path)
        browser.close()

    import docx
    texts = [p.text for p in docx.Document(str(path)).paragraphs]
    assert any(t.startswith("☑\t1.3.1") for t in texts)
    assert sum(t.startswith("☑\t") for t in texts) == 1
    assert not errors, errors
    assert not requests_elsewhere, f"the page fetched from elsewhere: {requests_elsewhere}"


RISK = ("ผลการวิเคราะห์ความเสี่ยงของระบบเทคโนโลยีดิจิทัล ความเสี่ยงที่สำคัญคือระบบยื่นคำร้องอิเล็กทรอนิกส์ "
        "หยุดให้บริการและการโจมตีทางไซเบอร์ต่อฐานข้อมูลคดี")


def image_loaded(page, timeout: float = 30) -> None:
    """Wait for the preview's page image to arrive and decode. Polled with evaluate: the page's
    CSP forbids the string eval that wait_for_function runs in the page."""
    deadline = time.monotonic() + timeout
    while not page.evaluate("(() => { const i = document.querySelector('#preview-page');"
                            " return !!i && i.complete && i.naturalWidth > 0; })()"):
        assert time.monotonic() < deadline, "the page image did not load"
        time.sleep(0.1)


def test_a_citation_opens_its_pdf_page_with_the_passage_marked(server, tmp_path):
    """Source preview: an evidence card and a citation chip open the cited PDF page, the passage
    marked on it, in the dialog over the criterion page; the original file downloads."""
    if not THAI_FONT.exists():
        pytest.skip(f"Thai TTF font {THAI_FONT} not installed")
    path = thai_pdf(tmp_path / "risk-plan-2564.pdf",
                    [[(None, "แผนบริหารความเสี่ยง ประจำปีงบประมาณ พ.ศ. ๒๕๖๔ กรมบังคับคดี")],
                     [(None, "ส่วนที่ ๒ บริบทขององค์กร"), (120, RISK)]])
    server["kb"].ingest([path], progress=False)
    suggest_now(server["app"], "4.4.1")
    url = server["url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1360, "height": 1000}, locale="th-TH", accept_downloads=True)
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        browser_login(page, url, "somsri", PASSWORD)
        page.goto(url + "/a/1/c/4.4.1")
        card = page.locator("article.evidence-card", has_text="risk-plan-2564.pdf").first
        # by keyboard: the card's button opens the page in the dialog, Esc closes it
        card.get_by_role("button", name="ดูในเอกสารต้นฉบับ").focus()
        page.keyboard.press("Enter")
        dialog = page.locator("#passage-dialog")
        expect(dialog).to_be_visible()
        image = page.locator("#preview-page")
        expect(image).to_be_visible()
        image_loaded(page)
        expect(page.locator("#preview-download")).to_have_text("ดาวน์โหลดไฟล์ต้นฉบับ")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # accepted, drafted: the draft's citation chip opens the same page
        card.get_by_role("button", name="ยอมรับ").click()
        expect(page.locator("article.evidence-card.accepted", has_text="risk-plan-2564.pdf")).to_have_count(1)
        page.click("#generate")
        expect(page.locator(".version-line")).to_contain_text("ฉบับที่ 1")
        page.locator("#draft-view .chip").first.click()
        expect(dialog).to_be_visible()
        expect(page.locator("#passage-body")).to_contain_text("risk-plan-2564.pdf · หน้า 2")
        image_loaded(page)
        shot(page, "03b-citation-pdf-preview")
        # the PNG the dialog shows marks the chunk (the page's heading line and the passage set
        # 120 mm down the 297 mm page) in yellow, and nothing below it
        png = page.request.get(url + page.locator("#preview-page").get_attribute("src"))
        assert png.ok and png.headers["x-highlight"] == "found"
        import io

        import numpy as np
        from PIL import Image
        a = np.asarray(Image.open(io.BytesIO(png.body())).convert("RGB")).astype(int)
        yellow = (a[..., 0] > 200) & (a[..., 1] > 180) & (a[..., 2] < 190)
        share = yellow.any(axis=1).astype(float)
        h = a.shape[0]
        assert share[int(0.40 * h):int(0.53 * h)].mean() > 0.4          # the passage's three lines
        assert share[int(0.02 * h):int(0.08 * h)].any()                 # the heading above it
        assert not share[int(0.10 * h):int(0.38 * h)].any() and not share[int(0.55 * h):].any()
        with page.expect_download() as download:
            page.click("#preview-download")
        saved = tmp_path / "download.pdf"
        download.value.save_as(saved)
        assert download.value.suggested_filename == "risk-plan-2564.pdf"
        assert saved.read_bytes() == path.read_bytes()
        browser.close()
    assert not errors, errors
