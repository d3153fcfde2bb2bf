"""Tables in text PDFs (ingest/pdftables.py): rows with their header, cited by page, table and row;
every PDF is printed here (tests/pdftable_support.py), Thai shaped as Word prints it."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from ingest import pdftables
from ingest.limits import Limits
from ingest.loaders import load
from pdftable_support import FONT, Cell, PdfBuilder
from textmodel import thai

pytestmark = pytest.mark.skipif(not FONT.exists(),
                                reason=f"Thai TTF font {FONT} not installed (apt-get install fonts-thai-tlwg-ttf)")

HEADER = ["ตัวชี้วัด", "เป้าหมาย", "ผลการดำเนินงาน"]
KPI = [HEADER,
       ["ร้อยละความพึงพอใจของผู้รับบริการ", "80", "85.5"],
       ["จำนวนคำร้องที่ยื่นผ่านระบบ e-Filing", "12,000", "12,345"],
       ["ระยะเวลารอคอยเฉลี่ยที่สำนักงาน (นาที)", "15", "9"],
       ["ร้อยละของสำนวนที่ค้างเกิน 10 ปีที่ดำเนินการแล้วเสร็จ", "60", "72.4"]]
ABOVE = "รายงานผลการดำเนินงานตามตัวชี้วัดของกรมบังคับคดี ประจำปีงบประมาณ พ.ศ. 2564 สรุปได้ดังตารางต่อไปนี้"
BELOW = "ผู้บริหารติดตามผลการดำเนินงานทุกไตรมาสและรายงานต่อที่ประชุมคณะกรรมการ"


def row_line(header, cells) -> str:
    return thai.normalize(" | ".join(f"{h}: {v}" for h, v in zip(header, cells)))


def table_sections(loaded):
    return [s for s in loaded.sections if s.table]


def kpi_report(path: Path) -> Path:
    return PdfBuilder().para(ABOVE).table(KPI, widths=[3, 1, 1.4]).para(BELOW).save(path)


# --- rows, header, paragraphs ---------------------------------------------------------------------

def test_rows_come_with_their_header_and_the_paragraphs_without_the_table(tmp_path):
    loaded = load(kpi_report(tmp_path / "kpi.pdf"))
    assert [(s.page, s.table) for s in loaded.sections] == [(1, None), (1, 1), (1, None)]
    above, table, below = loaded.sections
    assert table.rows == (2, 5)                   # row 1 is the header
    assert table.text.splitlines() == [row_line(HEADER, r) for r in KPI[1:]]
    for paragraph, printed in ((above, ABOVE), (below, BELOW)):     # wrapped between two words
        assert thai.repair_pdf_text(paragraph.text).replace("\n", "") == printed
    for paragraph in (above, below):                # table text is not indexed twice
        assert "85.5" not in paragraph.text and "ความพึงพอใจ" not in paragraph.text


def test_a_header_of_two_rows_names_each_column_and_spans_read_once(tmp_path):
    rows = [[Cell("ตัวชี้วัด", rowspan=2), Cell("ผลการดำเนินงาน", colspan=2)], ["2565", "2566"],
            ["ร้อยละความพึงพอใจ", "85.5", "90.1"], [Cell("จำนวนคำร้องรวมทั้งสองปี"), Cell("25,345", colspan=2)]]
    path = PdfBuilder().para(ABOVE).table(rows, header_rows=2).save(tmp_path / "two-rows.pdf")
    (table,) = table_sections(load(path))
    assert table.rows == (3, 4)
    assert table.text.splitlines() == [
        "ตัวชี้วัด: ร้อยละความพึงพอใจ | ผลการดำเนินงาน 2565: 85.5 | ผลการดำเนินงาน 2566: 90.1",
        "ตัวชี้วัด: จำนวนคำร้องรวมทั้งสองปี | ผลการดำเนินงาน 2565: 25,345"]


def test_wrapped_thai_cells_join_without_a_space_and_marks_stay_on_their_letters(tmp_path):
    long = "การพัฒนาระบบสารสนเทศเพื่อการบังคับคดีและการให้บริการประชาชนผ่านช่องทางอิเล็กทรอนิกส์ที่หลากหลาย"
    rows = [["โครงการ", "งบประมาณ (บาท)"], [long, "1,250,000"], ["ปรับปรุงห้องประชุมชั้นสี่ อาคาร B", "350,000"]]
    path = PdfBuilder().table(rows, widths=[1, 1]).save(tmp_path / "wrapped.pdf")
    (table,) = table_sections(load(path))
    assert table.text.splitlines() == [row_line(rows[0], rows[1]), row_line(rows[0], rows[2])]


def test_a_caption_above_the_table_is_its_heading(tmp_path):
    path = (PdfBuilder().para(ABOVE).para("ตารางที่ 2 ผลการดำเนินงานตามตัวชี้วัด ปี 2564")
            .table(KPI).save(tmp_path / "caption.pdf"))
    (table,) = table_sections(load(path))
    assert table.heading == "ตารางที่ 2 ผลการดำเนินงานตามตัวชี้วัด ปี 2564"


# --- page breaks ----------------------------------------------------------------------------------

def long_table(n: int) -> list[list[str]]:
    return [["เดือน", "จำนวนผู้รับบริการ", "เวลารอคอยเฉลี่ย (นาที)"]] + [
        [f"เดือนที่ {i} สำนักงานบังคับคดีจังหวัดนนทบุรี", f"{4000 + i * 7:,}", str(5 + i % 9)] for i in range(1, 61)]


@pytest.mark.parametrize("repeated", [False, True])
def test_a_table_across_a_page_break_carries_its_header(tmp_path, repeated):
    rows = long_table(60)
    path = PdfBuilder().para(ABOVE).table(rows, repeat_header=repeated).save(tmp_path / "long.pdf")
    tables = table_sections(load(path))
    pages = sorted({s.page for s in tables})
    assert len(pages) >= 2
    lines = [ln for s in tables for ln in s.text.splitlines()]
    assert lines == [row_line(rows[0], r) for r in rows[1:]]      # every row once, with the header
    first_on_2 = next(s for s in tables if s.page == 2)
    assert first_on_2.table == 1
    # rows are the rows of the table as printed on that page: a repeated header is row 1 there
    assert first_on_2.rows[0] == (2 if repeated else 1)


def test_a_last_row_alone_on_the_next_page_is_still_a_row_of_the_table(tmp_path):
    # the first table length whose last row runs over onto page 2 by itself
    for n in range(10, 40):
        rows = long_table(60)[:n]
        path = PdfBuilder().para(ABOVE).table(rows, repeat_header=False).save(tmp_path / f"t{n}.pdf")
        with pdfplumber_open(path) as pdf:
            if len(pdf.pages) == 2 and rows[-1][1] in pdf.pages[1].extract_text() \
                    and rows[-2][1] not in pdf.pages[1].extract_text():
                break
    else:
        pytest.fail("no table length puts one row alone on page 2")
    tables = table_sections(load(path))
    assert [ln for s in tables for ln in s.text.splitlines()] == [row_line(rows[0], r) for r in rows[1:]]
    last = tables[-1]
    assert (last.page, last.table, last.rows) == (2, 1, (1, 1))


def test_a_framed_line_of_two_cells_alone_is_not_a_table(tmp_path):
    path = (PdfBuilder().para(ABOVE).table([["ลงชื่อ ผู้อำนวยการกอง", "วันที่ 1 ตุลาคม 2564"]])
            .para(BELOW).save(tmp_path / "signed.pdf"))
    assert table_sections(load(path)) == []


def pdfplumber_open(path):
    import pdfplumber
    return pdfplumber.open(path)


def test_a_new_table_on_the_next_page_keeps_its_own_header(tmp_path):
    other = [["หน่วยงาน", "จำนวนบุคลากร", "ผ่านการอบรม"],
             ["กองบริหารทรัพยากรบุคคล", "45", "40"], ["ศูนย์เทคโนโลยีสารสนเทศ", "60", "58"]]
    path = PdfBuilder().para(ABOVE).table(KPI).page().table(other).save(tmp_path / "two.pdf")
    first, second = table_sections(load(path))
    assert (second.page, second.table, second.rows) == (2, 1, (2, 3))
    assert second.text.splitlines() == [row_line(other[0], r) for r in other[1:]]


# --- what is not a table --------------------------------------------------------------------------

def test_a_text_only_pdf_reads_exactly_as_before(tmp_path):
    from pypdf import PdfReader
    b = PdfBuilder()
    for i in range(3):
        b.para(f"หน้าที่ {i + 1} " + ABOVE).para(BELOW)
        if i < 2:
            b.page()
    path = b.save(tmp_path / "plain.pdf")
    layer = [p.extract_text().strip() for p in PdfReader(path).pages]
    loaded = load(path)
    assert [(s.page, s.text, s.table, s.rows) for s in loaded.sections] == [
        (n, text, None, None) for n, text in enumerate(layer, start=1)]
    assert loaded.warnings == []


def test_rules_and_boxes_that_make_no_table_leave_the_page_as_it_was(tmp_path):
    from pypdf import PdfReader
    b = PdfBuilder()
    pdf = b.pdf
    b.para(ABOVE)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + pdf.epw, pdf.get_y())       # a rule under a title
    pdf.ln(2)
    pdf.multi_cell(0, 7, "ข้อความในกรอบ: ประกาศ ณ วันที่ 1 ตุลาคม 2564", border=1)       # a framed note
    pdf.ln(2)
    b.table([["ลงชื่อ ผู้อำนวยการกอง"]])                                           # a one-cell box
    b.para(BELOW)
    path = b.save(tmp_path / "framed.pdf")
    (section,) = load(path).sections
    assert section.table is None and section.text == PdfReader(path).pages[0].extract_text().strip()


# --- bad input ------------------------------------------------------------------------------------

def three_pages_of_tables(path: Path) -> Path:
    b = PdfBuilder()
    for i in range(3):
        b.para(f"หน้าที่ {i + 1} " + ABOVE).table(KPI).para(BELOW)
        if i < 2:
            b.page()
    return b.save(path)


def test_a_page_whose_tables_fail_keeps_its_plain_text_and_the_others_their_tables(tmp_path, monkeypatch):
    from pypdf import PdfReader
    path = three_pages_of_tables(tmp_path / "broken.pdf")
    real = pdftables.find_tables

    def broken_on_page_2(page):
        if page.page_number == 2:
            raise ValueError("unexpected operator in content stream")
        return real(page)

    monkeypatch.setattr(pdftables, "find_tables", broken_on_page_2)
    loaded = load(path)
    assert [(s.page, s.table) for s in loaded.sections] == [
        (1, None), (1, 1), (1, None), (2, None), (3, None), (3, 1), (3, None)]
    assert loaded.sections[3].text == PdfReader(path).pages[1].extract_text().strip()
    (warning,) = loaded.warnings
    assert warning.startswith("broken.pdf: หน้า 2: อ่านตารางไม่ได้ ใช้ข้อความธรรมดาของหน้าแทน")


def dense_grid_page(b: PdfBuilder, n: int = 100) -> None:
    """A page of n × n ruling lines: pdfplumber takes seconds over its intersections."""
    pdf = b.pdf
    pdf.set_line_width(0.05)
    for i in range(n + 1):
        x, y = 10 + i * 190 / n, 40 + i * 240 / n
        pdf.line(x, 40, x, 280)
        pdf.line(10, y, 200, y)


def test_a_page_over_the_time_limit_keeps_its_plain_text(tmp_path):
    b = PdfBuilder().para(ABOVE).table(KPI).page().para("หน้าที่มีเส้นตารางหนาแน่นจนหาตารางไม่ทัน")
    dense_grid_page(b)
    path = b.page().table(KPI).save(tmp_path / "slow.pdf")
    limits = replace(Limits(), max_ocr_page_seconds=0.5)
    start = time.monotonic()
    loaded = load(path, limits)
    assert time.monotonic() - start < 5
    assert [(s.page, s.table) for s in loaded.sections] == [(1, None), (1, 1), (2, None), (3, 1)]
    assert loaded.sections[2].text == "หน้าที่มีเส้นตารางหนาแน่นจนหาตารางไม่ทัน"
    (warning,) = loaded.warnings
    assert "หน้า 2: หาตารางนานเกิน 0.5 วินาที" in warning and "KB_MAX_OCR_PAGE_SECONDS" in warning


def test_the_time_limit_stops_work_in_any_thread(monkeypatch):
    import threading

    def forever():
        while True:
            pass

    caught = []

    def run():
        try:
            with pdftables.time_limit(0.2):
                forever()
        except pdftables.TableTimeout:
            caught.append(True)
        time.sleep(0.3)           # nothing fires after the block has ended
        caught.append("after")

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(5)
    assert caught == [True, "after"]
    with pdftables.time_limit(0.2):
        pass
    time.sleep(0.3)               # a block that ended in time is never interrupted later


def test_a_batch_with_a_slow_table_page_is_ingested_whole(kb, docs, tmp_path, monkeypatch):
    b = PdfBuilder().para(ABOVE).table(KPI).page().para("หน้าที่มีเส้นตารางหนาแน่นจนหาตารางไม่ทัน")
    dense_grid_page(b)
    b.save(docs / "slow-2564.pdf")
    monkeypatch.setenv("KB_MAX_OCR_PAGE_SECONDS", "0.5")
    notes = []
    s = kb.ingest([docs], progress=False, echo=notes.append)
    assert s.errors == [] and s.ingested == 5
    assert len(s.warnings) == 1 and "slow-2564.pdf: หน้า 2" in s.warnings[0]
    assert notes == [f"warning: {s.warnings[0]}"]
    hit = kb.search("ร้อยละความพึงพอใจของผู้รับบริการ ผลการดำเนินงาน", k=3)[0]
    assert (hit.file_name, hit.page, hit.table) == ("slow-2564.pdf", 1, 1)


# --- ingested, searched, cited, previewed ---------------------------------------------------------

def annual_report(path: Path) -> Path:
    """Six pages of prose, then page 7 with two tables: the KPI table is table 2 there."""
    b = PdfBuilder()
    for i in range(6):
        b.para(f"ส่วนที่ {i + 1} " + ABOVE).para(BELOW).page()
    b.para("สรุปผลการดำเนินงาน").table([["ไตรมาส", "งบประมาณที่เบิกจ่าย (ล้านบาท)"], ["1", "120.5"], ["2", "98.2"]])
    b.para("ตารางที่ 2 ผลการดำเนินงานตามตัวชี้วัด").table(KPI, widths=[3, 1, 1.4])
    return b.save(path)


@pytest.fixture(scope="module")
def report_kb(tmp_path_factory):
    from kb.config import Settings
    from kb.service import KnowledgeBase
    root = tmp_path_factory.mktemp("pdftables")
    (root / "docs").mkdir()
    annual_report(root / "docs" / "รายงานประจำปี-2564.pdf")
    # chunks of 96 tokens (the title and caption take a part) hold one KPI row each, so a hit
    # cites a single row
    base = KnowledgeBase(replace(Settings(), data_dir=root / "data", chroma_url=None, chunk_tokens=96))
    summary = base.ingest([root / "docs"], progress=False)
    assert summary.ingested == 1 and not summary.errors, summary.line()
    yield base
    base.store.close()


def test_a_kpi_row_is_found_by_its_content_and_cited_by_page_table_and_row(report_kb):
    hits = report_kb.search("ร้อยละของสำนวนที่ค้างเกิน 10 ปี ที่ดำเนินการแล้วเสร็จ ผลการดำเนินงาน", k=3)
    hit = hits[0]
    assert hit.where() == "รายงานประจำปี-2564.pdf · หน้า 7 · ตาราง 2 · แถว 5"
    assert hit.text == row_line(HEADER, KPI[4])
    assert hit.heading == "ตารางที่ 2 ผลการดำเนินงานตามตัวชี้วัด"


def test_a_citation_typed_as_printed_finds_the_row(report_kb):
    from kb import preview
    ids = preview.resolve(report_kb.store, "รายงานประจำปี-2564.pdf · หน้า 7 · ตาราง 2 · แถว 4")
    assert len(ids) == 1
    assert report_kb.store.chunk_rows(ids)[ids[0]]["text"] == row_line(HEADER, KPI[3])


def test_the_preview_marks_the_row_on_its_page(report_kb, tmp_path):
    from kb import preview
    (cid,) = preview.resolve(report_kb.store, "รายงานประจำปี-2564.pdf · หน้า 7 · ตาราง 2 · แถว 3")
    p = preview.preview(report_kb.store, cid)
    assert p.kind == "pdf" and p.where == "รายงานประจำปี-2564.pdf · หน้า 7 · ตาราง 2 · แถว 3"
    image = preview.page_image(report_kb.store, cid)
    # the cells of one row print on one line: one box, from the first cell to the last
    assert image.status == "found" and len(image.boxes) == 1
    left, top, right, bottom = image.boxes[0]
    import pdfplumber
    with pdfplumber.open(annual_report(tmp_path / "same.pdf")) as pdf:     # the same pages again
        words = pdf.pages[6].extract_words()
    k = 1.5                                                                 # page_image's scale
    first = next(w for w in words if w["text"].startswith("12,000"))
    last = next(w for w in words if w["text"].startswith("12,345"))
    assert top <= first["top"] * k and first["bottom"] * k <= bottom      # the row of row 3's figures
    assert right >= last["x1"] * k and bottom - top < 40