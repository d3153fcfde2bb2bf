"""ingest.loaders: every input is generated here, in tmp_path, from the libraries that write the format."""

from __future__ import annotations

import datetime as dt
import pickle
import random
import zipfile
from pathlib import Path

import pytest

from ingest.loaders import SUPPORTED, LoadError, load
from textmodel.records import LoadedFile, Section

THAI_FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
needs_thai_font = pytest.mark.skipif(
    not THAI_FONT.exists(),
    reason=f"Thai TTF font {THAI_FONT} not installed (apt-get install fonts-thai-tlwg-ttf)",
)


def assert_load_error(path: Path, *fragments: str) -> LoadError:
    """The error is a LoadError (not a library's), one line, naming the file and then the problem."""
    with pytest.raises(LoadError) as info:
        load(path)
    err = info.value
    assert type(err) is LoadError
    message = str(err)
    assert message.startswith(f"{path.name}: ")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    assert err.path == path
    assert err.reason and err.reason in message
    return err


# --- PDF ------------------------------------------------------------------------


def thai_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("Garuda", fname=str(THAI_FONT))
    pdf.set_font("Garuda", size=14)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 10, text)
    pdf.output(str(path))
    return path


@needs_thai_font
def test_pdf_one_section_per_page_with_text(tmp_path):
    path = thai_pdf(
        tmp_path / "แผน.pdf",
        ["แผนปฏิบัติราชการ\nสำนักงานจัดทำแผนยุทธศาสตร์ดิจิทัล พ.ศ. ๒๕๖๔", "", "หน้าที่สาม การประชุมคณะกรรมการ"],
        title="แผนปฏิบัติราชการ ประจำปีงบประมาณ พ.ศ. 2564",
    )
    loaded = load(path)
    assert loaded.title == "แผนปฏิบัติราชการ ประจำปีงบประมาณ พ.ศ. 2564"
    assert [s.page for s in loaded.sections] == [1, 3]  # the blank page 2 is skipped
    assert "แผนยุทธศาสตร์ดิจิทัล" in loaded.sections[0].text
    assert "การประชุมคณะกรรมการ" in loaded.sections[1].text
    assert all(s.sheet is None and s.rows is None for s in loaded.sections)


@needs_thai_font
def test_pdf_title_falls_back_to_first_line(tmp_path):
    path = thai_pdf(tmp_path / "report.pdf", ["\nรายงานผลการดำเนินงาน\nเนื้อหา"])
    assert load(path).title == "รายงานผลการดำเนินงาน"


@needs_thai_font
@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-128", "AES-256"])
def test_pdf_with_only_an_owner_password_opens(tmp_path, algorithm):
    """Acrobat's default is AES with an owner password only; pypdf reads AES through the
    `cryptography` package, a dependency for that reason."""
    from pypdf import PdfWriter

    plain = thai_pdf(tmp_path / "plain.pdf", ["ข้อมูลสาธารณะ"])
    writer = PdfWriter(clone_from=plain)
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm=algorithm)
    path = tmp_path / "restricted.pdf"
    writer.write(path)
    assert "ข้อมูลสาธารณะ" in load(path).sections[0].text


@needs_thai_font
def test_encrypted_pdf(tmp_path):
    from pypdf import PdfWriter

    plain = thai_pdf(tmp_path / "plain.pdf", ["ความลับ"])
    writer = PdfWriter(clone_from=plain)
    writer.encrypt(user_password="secret")
    path = tmp_path / "ลับ.pdf"
    writer.write(path)
    assert_load_error(path, "PDF is encrypted")


def test_corrupt_pdf(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"this is not a PDF at all\n" * 10)
    assert_load_error(path, "PDF is corrupt or not a PDF (")


def test_truncated_pdf(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "complete document")
    data = bytes(pdf.output())
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 3])
    assert_load_error(path, "PDF is corrupt or not a PDF")


def test_pdf_without_pages(tmp_path):
    from pypdf import PdfWriter

    path = tmp_path / "empty.pdf"
    PdfWriter().write(path)
    assert_load_error(path, "PDF has no pages")


def test_pdf_without_text(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)  # a drawing, like a scanned page: ink but no text
    path = tmp_path / "scan.pdf"
    pdf.output(str(path))
    assert_load_error(path, "PDF has no extractable text (scanned?)")


# --- DOCX -----------------------------------------------------------------------


def kpi_docx(path: Path, data_rows: int = 2, title: str | None = "รายงานผลการดำเนินงาน 2564") -> Path:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.add_paragraph("คำนำ สำนักงานจัดทำรายงานฉบับนี้")
    document.add_heading("ผลการดำเนินงานตามตัวชี้วัด", level=1)
    document.add_paragraph("ตารางต่อไปนี้สรุปผลตัวชี้วัด")
    table = document.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ["ตัวชี้วัด", "เป้าหมาย", "ผล"]):
        cell.text = text
    for i in range(1, data_rows + 1):
        cells = table.add_row().cells
        cells[0].text, cells[1].text, cells[2].text = f"ตัวชี้วัดที่ {i}", "80", f"{80 + i}"
    document.add_paragraph("หมายเหตุ ข้อมูล ณ 30 กันยายน 2564")
    document.add_heading("การพัฒนาบุคลากร", level=2)
    document.add_paragraph("จัดอบรมทักษะดิจิทัลให้บุคลากร 120 คน")
    document.save(str(path))
    return path


def test_docx_sections_follow_headings_and_tables_in_order(tmp_path):
    loaded = load(kpi_docx(tmp_path / "รายงาน.docx"))
    assert loaded.title == "รายงานผลการดำเนินงาน 2564"
    assert [(s.heading, s.rows) for s in loaded.sections] == [
        (None, None),
        ("ผลการดำเนินงานตามตัวชี้วัด", None),
        ("ผลการดำเนินงานตามตัวชี้วัด", (2, 3)),  # table rows; row 1 is the header
        ("ผลการดำเนินงานตามตัวชี้วัด", None),
        ("การพัฒนาบุคลากร", None),
    ]
    intro, lead_in, table, note, training = loaded.sections
    assert intro.text == "คำนำ สำนักงานจัดทำรายงานฉบับนี้"
    assert lead_in.text == "ตารางต่อไปนี้สรุปผลตัวชี้วัด"
    assert table.text.splitlines() == [
        "ตัวชี้วัด: ตัวชี้วัดที่ 1 | เป้าหมาย: 80 | ผล: 81",
        "ตัวชี้วัด: ตัวชี้วัดที่ 2 | เป้าหมาย: 80 | ผล: 82",
    ]
    assert note.text.startswith("หมายเหตุ")
    assert training.text == "จัดอบรมทักษะดิจิทัลให้บุคลากร 120 คน"


def test_docx_big_table_is_packed_in_blocks_of_20_rows(tmp_path):
    loaded = load(kpi_docx(tmp_path / "big.docx", data_rows=25))
    tables = [s for s in loaded.sections if s.rows]
    assert [s.rows for s in tables] == [(2, 21), (22, 26)]
    assert tables[1].text.splitlines()[0] == "ตัวชี้วัด: ตัวชี้วัดที่ 21 | เป้าหมาย: 80 | ผล: 101"


def test_docx_title_falls_back_to_first_heading(tmp_path):
    assert load(kpi_docx(tmp_path / "untitled.docx", title=None)).title == "ผลการดำเนินงานตามตัวชี้วัด"


def test_corrupt_docx(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    assert_load_error(path, "DOCX is corrupt or not a Word document (")


def test_old_binary_word_file_renamed_docx(tmp_path):
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512))
    assert_load_error(path, "old binary Office format")


# --- XLSX -----------------------------------------------------------------------


def with_cached_values(path: Path, sheet_xml: str, cached: dict[str, str]) -> None:
    """Store formula results as Excel does; openpyxl writes formulas but never calculates them."""
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    xml = entries[sheet_xml].decode()
    for formula, value in cached.items():
        before = f"<f>{formula}</f><v></v>"
        assert before in xml
        xml = xml.replace(before, f"<f>{formula}</f><v>{value}</v>")
    entries[sheet_xml] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)


def test_xlsx_rows_with_merged_title_and_repeated_header(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "ตัวชี้วัด"
    ws["A1"] = "ผลการดำเนินงานตามตัวชี้วัด ปีงบประมาณ พ.ศ. 2564"
    ws.merge_cells("A1:E1")
    ws.append(["ตัวชี้วัด", "งบประมาณ (บาท)", "ผล", "วันที่รายงาน", "หมายเหตุ"])
    for i in range(1, 24):
        ws.append([f"ตัวชี้วัดที่ {i}", 1500000.0, 0.855, dt.datetime(2021, 9, 30), None])
    ws["C3"].number_format = "0.0%"
    notes = wb.create_sheet("บันทึก")
    notes.append(["รายการ", "จำนวน"])
    notes.append(["ผู้เข้าอบรม", 120])
    path = tmp_path / "kpi.xlsx"
    wb.save(path)

    loaded = load(path)
    assert loaded.title == "kpi"
    first, second, third = loaded.sections
    assert (first.sheet, first.rows) == ("ตัวชี้วัด", (3, 22))  # spreadsheet row numbers, header in row 2
    assert (second.sheet, second.rows) == ("ตัวชี้วัด", (23, 25))
    assert first.heading == second.heading == "ผลการดำเนินงานตามตัวชี้วัด ปีงบประมาณ พ.ศ. 2564"
    lines = first.text.splitlines()
    assert len(lines) == 20  # one line per data row and nothing else
    assert lines[0] == (
        "ตัวชี้วัด: ตัวชี้วัดที่ 1 | งบประมาณ (บาท): 1500000 | ผล: 85.5% | วันที่รายงาน: 2021-09-30"
    )
    assert lines[1].startswith("ตัวชี้วัด: ตัวชี้วัดที่ 2 | งบประมาณ (บาท): 1500000 | ผล: 0.855 |")
    assert (third.sheet, third.rows, third.heading) == ("บันทึก", (2, 2), None)
    assert third.text == "รายการ: ผู้เข้าอบรม | จำนวน: 120"


def test_xlsx_merged_cells_and_formulas(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["หมวด", "โครงการ", "งบประมาณ", "รวมสะสม"])
    ws.append(["หมวด 1", "ระบบสารบรรณอิเล็กทรอนิกส์", 250000, "=C2"])
    ws.append([None, "ระบบลาออนไลน์", 1250000, "=D2+C3"])
    ws.append(["หมวด 2", "ศูนย์ข้อมูลกลาง", 500, "=SUM(C2:C4)"])
    ws.merge_cells("A2:A3")  # one category over two projects
    path = tmp_path / "budget.xlsx"
    wb.save(path)
    # D2 carries a result as Excel would have saved it, a stale one to tell it from a computed
    # value; D3 and D4 were never calculated (a workbook written by a program).
    with_cached_values(path, "xl/worksheets/sheet1.xml", {"C2": "249999"})

    lines = load(path).sections[0].text.splitlines()
    assert lines == [
        "หมวด: หมวด 1 | โครงการ: ระบบสารบรรณอิเล็กทรอนิกส์ | งบประมาณ: 250000 | รวมสะสม: 249999",
        "หมวด: หมวด 1 | โครงการ: ระบบลาออนไลน์ | งบประมาณ: 1250000 | รวมสะสม: 1500000",
        "หมวด: หมวด 2 | โครงการ: ศูนย์ข้อมูลกลาง | งบประมาณ: 500 | รวมสะสม: 1500500",
    ]


def test_xlsx_formula_results_computed_never_formula_text(tmp_path, monkeypatch):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "สัดส่วน"
    ws.append(["ประเภท", "คำร้อง", "ร้อยละ", "ตรวจสอบ"])
    for name, n in [("ธนาคาร", 300), ("ทนายความ", 100)]:
        r = ws.max_row + 1
        ws.append([name, n, f"=ROUND(B{r}/SUM(B$2:B$3)*100,1)", f"=B{r}/0"])
    path = tmp_path / "share.xlsx"
    wb.save(path)

    lines = load(path).sections[0].text.splitlines()
    assert lines == ["ประเภท: ธนาคาร | คำร้อง: 300 | ร้อยละ: 75 | ตรวจสอบ: #DIV/0!",
                     "ประเภท: ทนายความ | คำร้อง: 100 | ร้อยละ: 25 | ตรวจสอบ: #DIV/0!"]
    # Over the limit of formulas to compute, results are blank: still never the formula text.
    monkeypatch.setenv("KB_MAX_FORMULA_CELLS", "3")
    text = load(path).sections[0].text
    assert "=" not in text and "ROUND" not in text
    assert text.splitlines()[0] == "ประเภท: ธนาคาร | คำร้อง: 300"


def test_xlsx_header_of_two_rows_names_each_column(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "ผลการดำเนินงานตามตัวชี้วัด"
    ws.merge_cells("A1:D1")  # a title: stays once, above the table
    ws.append(["ตัวชี้วัด", "หน่วย", "ผลการดำเนินงาน", None])
    ws.append([None, None, "2565", "2566"])
    ws.merge_cells("A2:A3")
    ws.merge_cells("B2:B3")
    ws.merge_cells("C2:D2")
    ws.append(["ความพึงพอใจ", "ร้อยละ", 84.5, 88.2])
    ws.append(["คำร้องออนไลน์", "รายการ", 41000, 54004])
    path = tmp_path / "kpi.xlsx"
    wb.save(path)

    (section,) = load(path).sections
    assert section.heading == "ผลการดำเนินงานตามตัวชี้วัด"
    assert section.rows == (4, 5)  # sheet rows: the folded header does not shift them
    assert section.text.splitlines() == [
        "ตัวชี้วัด: ความพึงพอใจ | หน่วย: ร้อยละ | ผลการดำเนินงาน 2565: 84.5 | ผลการดำเนินงาน 2566: 88.2",
        "ตัวชี้วัด: คำร้องออนไลน์ | หน่วย: รายการ | ผลการดำเนินงาน 2565: 41000 | ผลการดำเนินงาน 2566: 54004",
    ]


def test_empty_xlsx(tmp_path):
    import openpyxl

    path = tmp_path / "blank.xlsx"
    openpyxl.Workbook().save(path)
    assert_load_error(path, "empty workbook")


def test_corrupt_xlsx(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_text("ไม่ใช่ไฟล์ Excel", encoding="utf-8")
    assert_load_error(path, "XLSX is corrupt or not an Excel workbook (")


# --- CSV ------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_csv_delimiter_is_sniffed_and_rows_are_line_numbers(tmp_path, delimiter):
    lines = [
        ["รายงานการใช้งานระบบ"],
        ["ระบบ", "ผู้ใช้", "หน่วยงาน"],
        ["e-Saraban", "1,250", "กองกลาง"],
        ["", "", ""],
        ["e-Leave", "300", "กองการเจ้าหน้าที่"],
    ]
    text = "\n".join(delimiter.join(f'"{c}"' if "," in c else c for c in row) for row in lines)
    path = tmp_path / "usage.csv"
    path.write_text(text + "\n", encoding="utf-8-sig")  # Excel writes a BOM

    (section,) = load(path).sections
    assert section.rows == (3, 5)
    assert section.sheet is None
    assert section.heading == "รายงานการใช้งานระบบ"
    assert section.text.splitlines() == [
        "ระบบ: e-Saraban | ผู้ใช้: 1,250 | หน่วยงาน: กองกลาง",
        "ระบบ: e-Leave | ผู้ใช้: 300 | หน่วยงาน: กองการเจ้าหน้าที่",
    ]


def test_csv_in_windows_thai_encoding(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes("ชื่อ,ตำแหน่ง\nสมชาย,นักวิชาการคอมพิวเตอร์\n".encode("cp874"))
    assert load(path).sections[0].text == "ชื่อ: สมชาย | ตำแหน่ง: นักวิชาการคอมพิวเตอร์"


# --- HTML -----------------------------------------------------------------------


HTML = """<!DOCTYPE html>
<html><head><title>ข่าวประชาสัมพันธ์ กรมบังคับคดี</title><style>p {color: red}</style></head>
<body>
<nav><a href="/">หน้าแรก</a> | <a href="/news">ข่าว</a></nav>
<script>var tracking = "ไม่ควรปรากฏ";</script>
<p>บทนำ</p>
<h1>การให้บริการประชาชน</h1>
<p>เปิดให้บริการ<b>ออนไลน์</b>ตลอด
24 ชั่วโมง<br>ผ่านระบบ e-Service</p>
<!-- a comment -->
<h2>สถิติการให้บริการ</h2>
<table>
  <tr><th>ช่องทาง</th><th>ปี</th><th>จำนวนครั้ง</th></tr>
  <tr><td rowspan="2">เว็บไซต์</td><td>2563</td><td>12,000</td></tr>
  <tr><td>2564</td><td>15,500</td></tr>
  <tr><td>แอปพลิเคชัน</td><td>2564</td><td>8,000</td></tr>
</table>
<div>ข้อมูลจากกองสารสนเทศ</div>
</body></html>
"""


def test_html_sections_at_headings_with_tables(tmp_path):
    path = tmp_path / "news.html"
    path.write_text(HTML, encoding="utf-8")
    loaded = load(path)
    assert loaded.title == "ข่าวประชาสัมพันธ์ กรมบังคับคดี"
    assert [(s.heading, s.rows) for s in loaded.sections] == [
        (None, None),
        ("การให้บริการประชาชน", None),
        ("สถิติการให้บริการ", (2, 4)),
        ("สถิติการให้บริการ", None),
    ]
    intro, service, table, source = loaded.sections
    assert intro.text == "บทนำ"
    # inline tags add no space inside Thai words; <br> ends a line, a source line break does not
    assert service.text == "เปิดให้บริการออนไลน์ตลอด 24 ชั่วโมง\nผ่านระบบ e-Service"
    assert table.text.splitlines() == [
        "ช่องทาง: เว็บไซต์ | ปี: 2563 | จำนวนครั้ง: 12,000",
        "ช่องทาง: เว็บไซต์ | ปี: 2564 | จำนวนครั้ง: 15,500",  # rowspan carried down
        "ช่องทาง: แอปพลิเคชัน | ปี: 2564 | จำนวนครั้ง: 8,000",
    ]
    assert source.text == "ข้อมูลจากกองสารสนเทศ"
    everything = "\n".join(s.text for s in loaded.sections)
    for dropped in ("ไม่ควรปรากฏ", "หน้าแรก", "color", "comment"):
        assert dropped not in everything


def test_html_declared_thai_charset_and_h1_title(tmp_path):
    path = tmp_path / "old.htm"
    page = '<html><head><meta charset="tis-620"></head><body><h1>ประกาศ</h1><p>รับสมัครงาน</p></body></html>'
    path.write_bytes(page.encode("cp874"))
    loaded = load(path)
    assert loaded.title == "ประกาศ"
    assert loaded.sections == [Section("รับสมัครงาน", heading="ประกาศ")]


# --- Markdown and text ----------------------------------------------------------


MARKDOWN = """# แผนพัฒนาดิจิทัล

บทนำของแผน

## เป้าหมาย

| เป้าหมาย | ตัวชี้วัด |
|---|:---:|
| บริการออนไลน์ | ร้อยละ 80 |
| ลดกระดาษ | ร้อยละ 50 \\| ภายในปี 2565 |

```
# not a heading inside code
```
"""


def test_markdown_sections_and_tables(tmp_path):
    path = tmp_path / "plan.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    loaded = load(path)
    assert loaded.title == "แผนพัฒนาดิจิทัล"
    assert loaded.sections == [
        Section("บทนำของแผน", heading="แผนพัฒนาดิจิทัล"),
        Section(
            "เป้าหมาย: บริการออนไลน์ | ตัวชี้วัด: ร้อยละ 80\n"
            "เป้าหมาย: ลดกระดาษ | ตัวชี้วัด: ร้อยละ 50 | ภายในปี 2565",
            rows=(9, 10),  # the lines of the data rows in the file
            heading="เป้าหมาย",
        ),
        Section("```\n# not a heading inside code\n```", heading="เป้าหมาย"),
    ]


def test_text_file_utf8_with_bom(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("บันทึกข้อความ\nเรื่อง การประชุม\n", encoding="utf-8-sig")
    loaded = load(path)
    assert loaded == LoadedFile("บันทึกข้อความ", [Section("บันทึกข้อความ\nเรื่อง การประชุม")])


def test_text_file_utf16_from_notepad(tmp_path):
    path = tmp_path / "unicode.txt"
    path.write_text("คำสั่งแต่งตั้งคณะทำงาน", encoding="utf-16")
    assert load(path).sections[0].text == "คำสั่งแต่งตั้งคณะทำงาน"


def test_tis620_text_file_decodes(tmp_path):
    text = "คำสั่งกรมบังคับคดี ที่ ๑๒๓/๒๕๖๔ เรื่อง แต่งตั้งคณะทำงานพัฒนาระบบราชการ 4.0"
    path = tmp_path / "order.txt"
    path.write_bytes(text.encode("tis_620"))
    assert load(path).sections[0].text == text


def test_binary_garbage_text_file(tmp_path):
    path = tmp_path / "garbage.txt"
    path.write_bytes(random.Random(4).randbytes(4096))
    assert_load_error(path, "not valid UTF-8, TIS-620 or cp874 text")


def test_latin1_text_is_not_taken_for_thai(tmp_path):
    path = tmp_path / "french.txt"
    path.write_bytes("Les données de l'agence ont été vérifiées à Genève.".encode("latin-1"))
    assert_load_error(path, "not valid UTF-8, TIS-620 or cp874 text")


# --- any format -----------------------------------------------------------------


def test_supported_extensions():
    assert SUPPORTED == {".pdf", ".docx", ".xlsx", ".csv", ".html", ".htm", ".txt", ".md",
                         ".png", ".jpg", ".jpeg", ".tif", ".tiff"}


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.xlsx", "empty.csv"])
def test_zero_byte_file(tmp_path, name):
    path = tmp_path / name
    path.touch()
    assert_load_error(path, "empty file (0 bytes)")


def test_unknown_extension(tmp_path):
    path = tmp_path / "setup.EXE"
    path.write_bytes(b"MZ\x90\x00")
    assert_load_error(path, "unsupported file type .exe")


def test_missing_file(tmp_path):
    assert_load_error(tmp_path / "ย้ายไปแล้ว.pdf", "file not found (it may have been moved or deleted)")


def test_whitespace_only_file_has_no_text(tmp_path):
    path = tmp_path / "blank.md"
    path.write_text("\n   \n\t\n", encoding="utf-8")
    assert_load_error(path, "no text found")


def test_load_error_survives_pickling(tmp_path):
    # Workers in another process hand errors back by pickling them.
    err = pickle.loads(pickle.dumps(LoadError(tmp_path / "a.pdf", "PDF is encrypted")))
    assert (str(err), err.reason, err.path) == ("a.pdf: PDF is encrypted", "PDF is encrypted", tmp_path / "a.pdf")


# --- work limits ----------------------------------------------------------------


def zip_bomb(path: Path, inflated_mb: int) -> Path:
    """A real DOCX (python-docx opens it) whose document.xml inflates to `inflated_mb` MB of one
    repeated paragraph, written member by member so that the test itself stays small."""
    import docx
    docx.Document().save(str(path.with_suffix(".seed")))
    with zipfile.ZipFile(path.with_suffix(".seed")) as seed:
        parts = {n: seed.read(n) for n in seed.namelist()}
    head, tail = parts.pop("word/document.xml").decode().split("<w:body>")
    para = ("<w:p><w:r><w:t>" + "ก" * 40 + "</w:t></w:r></w:p>").encode()
    block = para * ((1 << 20) // len(para))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            member.write((head + "<w:body>").encode())
            for _ in range(inflated_mb):
                member.write(block)
            member.write(tail.encode())
    return path


def test_zip_bomb_is_refused_from_its_directory_before_parsing(tmp_path):
    import subprocess
    import sys
    bomb = zip_bomb(tmp_path / "รายงาน.docx", 400)
    assert bomb.stat().st_size < 2 << 20                    # under 2 MB on disk
    assert_load_error(bomb, "เกินขีดจำกัด 300 MB", "zip bomb")
    # in a fresh process: refused from the directory, so its peak memory stays far below
    # the 400 MB the archive declares
    # VmHWM: the peak of this process's own memory (ru_maxrss would carry the parent's across exec)
    probe = ("import re, sys; from ingest.loaders import load, LoadError\n"
             "try: load(sys.argv[1])\nexcept LoadError as e: print(e)\n"
             "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    out = subprocess.run([sys.executable, "-c", probe, str(bomb)], capture_output=True, text=True,
                         timeout=120, check=True, cwd=Path(__file__).resolve().parents[1]).stdout.splitlines()
    assert out[0].startswith("รายงาน.docx: ")
    assert int(out[-1]) < 250 * 1024                        # KiB: the libraries alone, no XML


def test_work_limits_are_settings(tmp_path, monkeypatch):
    from ingest.limits import Limits
    bomb = zip_bomb(tmp_path / "book.xlsx", 30)
    # 30 MB inflated is under the default 300 MB, but its ratio is not
    assert_load_error(bomb, "compression ratio")
    monkeypatch.setenv("KB_MAX_ZIP_RATIO", "100000")
    monkeypatch.setenv("KB_MAX_UNZIPPED_MB", "10")
    assert Limits.from_env().max_unzipped_mb == 10
    assert_load_error(bomb, "over the 10 MB limit")
    monkeypatch.setenv("KB_MAX_FILE_MB", "0.0001")
    assert_load_error(kpi_docx(tmp_path / "small.docx"), "over the 0.0001 MB limit")


def test_a_workbook_or_csv_over_the_row_limit_is_refused_before_its_cells_are_read(tmp_path, monkeypatch):
    import openpyxl

    import ingest.loaders as loaders

    wb = openpyxl.Workbook(write_only=True)  # streamed, as big exports are: no <dimension> to trust
    for name in ("ก", "ข"):
        ws = wb.create_sheet(name)
        for r in range(30):
            ws.append([f"รายการ {r}", r])
    path = tmp_path / "rows.xlsx"
    wb.save(path)
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("".join(f"รายการ {r},{r}\n" for r in range(60)), encoding="utf-8")
    assert loaders._workbook_rows(path) == 60

    monkeypatch.setenv("KB_MAX_ROWS", "60")
    assert len(load(path).sections) == 4 and load(csv_path).sections
    monkeypatch.setenv("KB_MAX_ROWS", "59")
    parsed = []
    monkeypatch.setattr(loaders.openpyxl, "load_workbook", lambda *a, **k: parsed.append(a))
    assert_load_error(path, "ไฟล์มี 60 แถว เกินขีดจำกัด 59 แถว", "KB_MAX_ROWS")
    assert parsed == []  # refused from the count, before any parser
    assert_load_error(csv_path, "over the 59 limit")
