"""Source preview (kb/preview.py), its API routes, the web fragment and `kb show`: every input is
made here, ingested into a real store, and previewed by chunk id."""
from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

import pytest

from review_support import HX, THAI_FONT, bearer, login, thai_pdf

pytestmark = pytest.mark.skipif(not THAI_FONT.exists(),
                                reason=f"Thai TTF font {THAI_FONT} not installed (apt-get install fonts-thai-tlwg-ttf)")

CITED = ("กรมบังคับคดีจัดอบรมทักษะดิจิทัลให้บุคลากรจำนวน ๑๒๐ คน "
         "เพื่อยกระดับการให้บริการประชาชนผ่านระบบอิเล็กทรอนิกส์")


def make_docs(d: Path) -> Path:
    import docx
    d.mkdir()
    # the passage sits in the lower half of page 2
    thai_pdf(d / "รายงาน-2564.pdf", [[(None, "รายงานผลการดำเนินงาน ประจำปีงบประมาณ พ.ศ. ๒๕๖๔")], [(150, CITED)]])
    lines = ["เดือน,จำนวนผู้รับบริการ,เวลารอคอย"] + [f"เดือนที่ {i},{100 + i},{i}" for i in range(1, 41)]
    (d / "คิว-2564.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = docx.Document()
    document.add_heading("การพัฒนาบุคลากร", level=1)
    document.add_paragraph("ย่อหน้าแรก สำนักงานสำรวจความต้องการอบรมของบุคลากรทุกกอง")
    document.add_heading("ผลการอบรม", level=1)
    document.add_paragraph("ย่อหน้าที่สอง จัดอบรมหลักสูตรการวิเคราะห์ข้อมูล ๓ รุ่น")
    document.add_heading("แผนปีถัดไป", level=1)
    document.add_paragraph("ย่อหน้าที่สาม วางแผนขยายหลักสูตรให้ครบทุกกอง")
    document.save(str(d / "บุคลากร.docx"))
    return d


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from kb.config import Settings
    from kb.service import KnowledgeBase
    root = tmp_path_factory.mktemp("preview")
    docs = make_docs(root / "docs")
    kb = KnowledgeBase(replace(Settings(), data_dir=root / "data", chroma_url=None))
    summary = kb.ingest([docs], progress=False)
    assert summary.ingested == 3, summary.line()
    kb.docs = docs
    yield kb
    kb.store.close()


def chunk(kb, file_name: str, **where) -> str:
    rows = kb.store.db.execute("SELECT c.* FROM chunks c JOIN documents d USING (doc_id) WHERE d.file_name = ? "
                               "ORDER BY c.ordinal", (file_name,)).fetchall()
    for r in rows:
        if all(r[k] == v for k, v in where.items()):
            return r["chunk_id"]
    raise AssertionError(f"no chunk of {file_name} with {where}")


def _yellow(png: bytes):
    """A mask of the pixels the highlight turned yellow (high red and green, less blue)."""
    import numpy as np
    from PIL import Image
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (a[..., 0] > 200) & (a[..., 1] > 180) & (a[..., 2] < 190)


# --- kb/preview.py --------------------------------------------------------------------------------

def test_pdf_page_is_rendered_with_the_passage_marked_where_it_is(base):
    from kb import preview
    cid = chunk(base, "รายงาน-2564.pdf", page=2)
    p = preview.preview(base.store, cid)
    assert p.kind == "pdf" and p.page == 2 and p.where == "รายงาน-2564.pdf · หน้า 2" and p.note == ""
    marked = preview.page_image(base.store, cid)
    plain = preview.page_image(base.store, cid, highlight=False)
    assert marked.png.startswith(b"\x89PNG") and marked.status == "found"
    assert (marked.width, marked.height) == (plain.width, plain.height)
    assert len(marked.boxes) == 2                          # the passage wraps onto two lines
    yellow, before = _yellow(marked.png), _yellow(plain.png)
    assert not before.any()                                 # black text on white: nothing yellow
    rows = yellow.any(axis=1).nonzero()[0]
    # the text starts 150 mm down an A4 page (297 mm): the marks are there, and only there
    assert rows.size and 0.45 < rows.min() / marked.height and rows.max() / marked.height < 0.62
    assert yellow.sum() > 0.01 * yellow.size


def test_match_ignores_spaces_line_breaks_marks_and_digits():
    from kb.preview import _Char, line_boxes, match_chars
    page = "การ ยื่นคําร้อง\nผ่านระบบ 12 คำร้อง"          # split sara am, a line break, Arabic digits
    chars = [_Char(c, i * 5.0, 10.0 if i < 15 else 30.0, i * 5.0 + 5, 20.0 if i < 15 else 40.0)
             for i, c in enumerate(page)]
    indexes, coverage = match_chars(chars, "การยื่นคำร้องผ่านระบบ ๑๒")
    assert coverage == 1.0
    assert "".join(page[i] for i in indexes).replace(" ", "").replace("\n", "") == "การยื่นคําร้องผ่านระบบ12"
    assert len(line_boxes(chars, indexes)) == 2
    _, none = match_chars(chars, "ข้อความอื่นที่ไม่มีในหน้านี้เลย")
    assert none < 0.6


def test_ocr_pages_are_shown_without_a_highlight_saying_why(base):
    from kb import preview
    cid = chunk(base, "รายงาน-2564.pdf", page=2)
    with base.store.db:
        base.store.db.execute("UPDATE chunks SET origin = 'ocr' WHERE chunk_id = ?", (cid,))
    try:
        p = preview.preview(base.store, cid)
        img = preview.page_image(base.store, cid)
        assert "OCR" in p.note and img.status == "ocr" and not img.boxes and not _yellow(img.png).any()
    finally:
        with base.store.db:
            base.store.db.execute("UPDATE chunks SET origin = 'text' WHERE chunk_id = ?", (cid,))


def test_sheet_rows_come_with_the_header_and_the_rows_around_them(base):
    from kb import preview
    ids = [r[0] for r in base.store.db.execute(
        "SELECT chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE d.file_name = 'คิว-2564.csv' "
        "ORDER BY ordinal")]
    assert len(ids) >= 2, "the CSV should be cut into several chunks"
    p = preview.preview(base.store, ids[1])
    assert p.kind == "sheet" and p.header == ["เดือน", "จำนวนผู้รับบริการ", "เวลารอคอย"]
    cited = [r for r in p.table if r.cited]
    first, last = p.rows
    assert [r.number for r in cited] == list(range(first, last + 1))
    # the data row on file line n is "เดือนที่ n-1"
    assert all(r.cells == [f"เดือนที่ {r.number - 1}", str(99 + r.number), str(r.number - 1)] for r in p.table)
    above = [r.number for r in p.table if not r.cited and r.number < first]
    assert above == [first - 3, first - 2, first - 1]       # neighbouring rows, from the chunk before


def test_docx_paragraph_comes_with_its_neighbours(base):
    from kb import preview
    cid = chunk(base, "บุคลากร.docx", heading="ผลการอบรม")
    p = preview.preview(base.store, cid)
    assert p.kind == "text" and "ย่อหน้าที่สอง" in p.text
    assert [b.text for b in p.before] == ["ย่อหน้าแรก สำนักงานสำรวจความต้องการอบรมของบุคลากรทุกกอง"]
    assert [a.text for a in p.after] == ["ย่อหน้าที่สาม วางแผนขยายหลักสูตรให้ครบทุกกอง"]
    assert p.after[0].where == "บุคลากร.docx · หัวข้อ “แผนปีถัดไป”"


def test_unknown_ids_and_citations(base):
    from kb import preview
    with pytest.raises(preview.PreviewNotFound, match="ไม่พบข้อความอ้างอิงรหัส"):
        preview.preview(base.store, "0123456789abcdef:0")
    with pytest.raises(preview.PreviewNotFound):
        preview.page_image(base.store, chunk(base, "บุคลากร.docx", heading="ผลการอบรม"))
    pdf2 = chunk(base, "รายงาน-2564.pdf", page=2)
    assert preview.resolve(base.store, pdf2) == [pdf2]
    assert preview.resolve(base.store, "รายงาน-2564.pdf · หน้า 2 · พ.ศ. 2564") == [pdf2]
    assert preview.resolve(base.store, "รายงาน-2564.pdf#p2") == [pdf2]
    row5 = preview.resolve(base.store, "คิว-2564.csv#r5")
    assert len(row5) == 1 and preview.preview(base.store, row5[0]).rows[0] <= 5
    assert preview.resolve(base.store, "ไม่มี.pdf · หน้า 1") == []
    with pytest.raises(ValueError, match="อ่านตำแหน่ง"):
        preview.resolve(base.store, "รายงาน-2564.pdf#บรรทัด")


def test_a_draft_source_is_previewed_only_while_its_chunk_holds_the_cited_text(base):
    from kb import preview
    cid = chunk(base, "บุคลากร.docx", heading="ผลการอบรม")
    text = preview.preview(base.store, cid).text
    assert preview.for_source(base.store, cid, "  " + text.replace(" ", "\n") + " ").chunk_id == cid
    # ingested again with other text at that place: the id is the same, the passage is not
    assert preview.for_source(base.store, cid, "ข้อความที่ร่างอ้างอิงไว้ก่อนนำเข้าใหม่") is None
    assert preview.for_source(base.store, "0123456789abcdef:0", text) is None
    assert preview.for_source(base.store, None, text) is None


# --- kb show --------------------------------------------------------------------------------------

def test_kb_show_prints_the_passage_with_its_neighbours(base, monkeypatch):
    from click.testing import CliRunner

    from kb.cli import main
    monkeypatch.setenv("KB_DATA_DIR", str(base.settings.data_dir))
    monkeypatch.delenv("KB_CHROMA_URL", raising=False)
    cid = chunk(base, "บุคลากร.docx", heading="ผลการอบรม")
    out = CliRunner().invoke(main, ["show", cid])
    assert out.exit_code == 0, out.output
    assert "ข้อความก่อนหน้า" in out.output and "ย่อหน้าแรก" in out.output
    assert "ข้อความที่อ้างอิง:" in out.output and "ย่อหน้าที่สอง" in out.output
    assert "ข้อความถัดไป" in out.output and "ย่อหน้าที่สาม" in out.output and f"รหัสอ้างอิง {cid}" in out.output
    sheet = CliRunner().invoke(main, ["show", "คิว-2564.csv · แถว 5"])
    assert sheet.exit_code == 0 and "เดือน\tจำนวนผู้รับบริการ" in sheet.output and "»5\tเดือนที่ 4" in sheet.output
    missing = CliRunner().invoke(main, ["show", "ไม่มี.pdf#p1"])
    assert missing.exit_code == 1 and "ไม่พบข้อความที่อ้างอิง" in missing.output


# --- the API and the web fragment -----------------------------------------------------------------

@pytest.fixture(scope="module")
def app(base, tmp_path_factory):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from review_support import make_users
    a = create_app(kb=base, database=f"sqlite:///{tmp_path_factory.mktemp('r') / 'r.sqlite'}",
                   agency="กรมทดสอบ", fiscal_year=2564)
    with TestClient(a) as client:
        make_users(a.state.ctx.db)
        a.client = client
        yield a


def test_api_preview_page_and_download(app, base):
    c = app.client
    cid = chunk(base, "รายงาน-2564.pdf", page=2)
    doc_id = cid.split(":")[0]
    for url in (f"/api/chunks/{cid}/preview", f"/api/chunks/{cid}/page.png", f"/api/documents/{doc_id}/file"):
        assert c.get(url).status_code == 401, url
    viewer = bearer(c, "viewer")
    r = c.get(f"/api/chunks/{cid}/preview", headers=viewer)
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "pdf" and body["page_image"] == f"/api/chunks/{cid}/page.png"
    assert body["download"] == f"/api/documents/{doc_id}/file" and CITED[:20] in body["text"].replace("\n", " ")
    png = c.get(body["page_image"], headers=viewer)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["x-highlight"] == "found" and png.content.startswith(b"\x89PNG")
    assert png.headers["x-content-type-options"] == "nosniff"          # the security headers stay
    got = c.get(body["download"], headers=viewer)
    assert got.status_code == 200 and got.content == (base.docs / "รายงาน-2564.pdf").read_bytes()
    disposition = got.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''%E0%B8%A3" in disposition
    assert 'filename="______-2564.pdf"' in disposition                  # the ASCII stand-in
    sheet = c.get(f"/api/chunks/{chunk(base, 'คิว-2564.csv', ordinal=0)}/preview", headers=viewer).json()
    assert sheet["kind"] == "sheet" and sheet["header"][0] == "เดือน" and sheet["page_image"] is None
    # unknown ids: 404 with a Thai message; a path is never taken from the request
    for url in ("/api/chunks/0123456789abcdef:9/preview", "/api/chunks/0123456789abcdef:9/page.png",
                "/api/documents/0123456789abcdef/file"):
        r = c.get(url, headers=viewer)
        assert r.status_code == 404 and "ไม่พบ" in r.json()["detail"], url
    for url in ("/api/documents/..%2F..%2Fetc%2Fpasswd/file", "/api/documents/%2Fetc%2Fpasswd/file"):
        r = c.get(url, headers=viewer)
        assert r.status_code == 404 and b"root:" not in r.content, url
    not_pdf = c.get(f"/api/chunks/{chunk(base, 'บุคลากร.docx', heading='ผลการอบรม')}/page.png", headers=viewer)
    assert not_pdf.status_code == 404 and "PDF" in not_pdf.json()["detail"]


def test_web_fragment_for_an_evidence_card(app, base):
    from fastapi.testclient import TestClient

    browser, _ = login(app, "viewer")
    cid = chunk(base, "รายงาน-2564.pdf", page=2)
    r = browser.get(f"/preview/{cid}", headers=HX)
    assert r.status_code == 200
    assert f'src="/api/chunks/{cid}/page.png"' in r.text and "ดาวน์โหลดไฟล์ต้นฉบับ" in r.text
    assert browser.get(f"/api/chunks/{cid}/page.png").status_code == 200      # the cookie is enough
    doc = browser.get(f"/preview/{chunk(base, 'บุคลากร.docx', heading='ผลการอบรม')}", headers=HX)
    assert "ข้อความก่อนหน้า" in doc.text and "ย่อหน้าแรก" in doc.text and "ย่อหน้าที่สาม" in doc.text
    sheet = browser.get(f"/preview/{chunk(base, 'คิว-2564.csv', ordinal=1)}", headers=HX)
    assert re.search(r"<th>เดือน</th><th>จำนวนผู้รับบริการ</th>", sheet.text) and 'class="cited"' in sheet.text
    missing = browser.get("/preview/0123456789abcdef:0", headers=HX)
    assert missing.status_code == 404 and "ไม่พบข้อความอ้างอิง" in missing.text
    assert TestClient(app).get(f"/preview/{cid}", headers=HX).status_code == 401


def test_a_citation_whose_document_changed_shows_the_passage_the_draft_kept(app, base):
    db = app.state.ctx.db
    editor = next(u for u in db.users() if u["name"] == "editor")
    cid = chunk(base, "บุคลากร.docx", heading="ผลการอบรม")
    current = {"chunk_id": cid, "file_name": "บุคลากร.docx", "where": "บุคลากร.docx · หัวข้อ “ผลการอบรม”",
               "fiscal_year": None}
    stale = "ย่อหน้าที่สอง ฉบับเดิมก่อนแก้ไฟล์ จัดอบรม ๒ รุ่น"
    sources = [{"n": 1, **current, "passage": base.store.chunk_rows([cid])[cid]["text"]},
               {"n": 2, **current, "passage": stale}]
    v = db.add_version(1, "1.3.1", editor["id"], kind="edited", text="จัดอบรม [1][2]", sources=sources, sentences=[])
    browser, _ = login(app, "viewer")
    same = browser.get(f"/a/1/c/1.3.1/source/{v['version']}/1", headers=HX)
    assert same.status_code == 200 and 'id="preview"' in same.text and "ย่อหน้าแรก" in same.text
    changed = browser.get(f"/a/1/c/1.3.1/source/{v['version']}/2", headers=HX)
    assert changed.status_code == 200 and 'id="preview"' not in changed.text
    assert stale in changed.text and 'id="source-changed"' in changed.text
