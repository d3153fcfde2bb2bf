"""The criteria catalogue: the shipped JSON, the form parser, and its DOCX path."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import docx
import pytest

from kb.criteria import (
    DEFAULT_PATH,
    Catalogue,
    format_criterion,
    format_tree,
    load_catalogue,
    shorten,
)
from kb.formparse import FormParseError, parse_docx, parse_file, parse_text

# The source form lives in the shared checkout next to this project (…/shared/form/).
FORM = Path(__file__).parents[1].parent / "shared/form/form3-2564-led.txt"
needs_form = pytest.mark.skipif(
    not FORM.is_file(), reason=f"source form not available at {FORM} (shared checkout missing)"
)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="module")
def form_text() -> str:
    return FORM.read_text(encoding="utf-8")


# -- shape ---------------------------------------------------------------------

def test_counts(catalogue):
    assert [c.number for c in catalogue.categories] == [1, 2, 3, 4, 5, 6]
    assert all(c.title for c in catalogue.categories)
    assert [len(c.items) for c in catalogue.categories] == [4] * 6
    assert len(catalogue.items()) == 24
    assert len(catalogue.criteria()) == 94
    assert catalogue.categories[0].title == "การนำองค์การ"
    assert catalogue.item("3.4").title == "กระบวนการแก้ไขข้อร้องเรียนที่รวดเร็วและสร้างสรรค์"


def test_codes_unique_in_order_and_consistent(catalogue):
    codes = [c.code for c in catalogue.criteria()]
    assert len(codes) == len(set(codes))
    assert codes[0] == "1.1.1" and codes[-1] == "6.4.4"
    assert codes == sorted(codes, key=lambda code: tuple(map(int, code.split("."))))
    for item in catalogue.items():
        assert [c.code for c in item.criteria] == [f"{item.code}.{n}" for n in range(1, len(item.criteria) + 1)]
        for c in item.criteria:
            assert c.item_code == item.code and c.category == item.category and c.item is item
            assert c.wording, f"{c.code} has no wording"


def test_every_item_has_its_two_choice_lines(catalogue):
    for item in catalogue.items():
        assert len(item.choices) == 2, item.code
        not_yet, in_progress = item.choices
        assert not_yet.startswith("ยังไม่มี") and not_yet.endswith("ดำเนินการในเรื่องดังกล่าว"), item.code
        assert in_progress == "อยู่ในระหว่างดำเนินการ", item.code
    # recorded as the form spells them, variants included
    assert catalogue.item("1.1").choices[0] == "ยังไม่มีผลการดำเนินการในเรื่องดังกล่าว"
    assert catalogue.item("2.1").choices[0] == "ยังไม่มีการดำเนินการในเรื่องดังกล่าว"
    assert catalogue.item("2.4").choices[0] == "ยังไม่มีดำเนินการในเรื่องดังกล่าว"
    assert catalogue.item("4.1").choices[0] == "ยังไม่มีมีการดำเนินการในเรื่องดังกล่าว"


# -- pinned wording / answer splits ------------------------------------------------

PINNED = {
    "1.1.1": (
        "ผู้บริหารกำหนดทิศทางในการสร้างขีดความสามารถในการแข่งขันของประเทศ"
        " (ด้านเศรษฐกิจ/สังคม/สาธารณสุข/สิ่งแวดล้อม) (ระบุอย่างน้อย 2 ด้าน)",
        "",
    ),
    "1.2.5": (
        "การเปิดเผยผลการดำเนินงาน การบริหารงบประมาณและอื่นๆ สู่สาธารณะผ่านช่องทาง"
        " (กรณีเปิดเผยผ่านเว็บไซต์ กรุณาแนบลิงค์ที่สามารถเข้าถึงข้อมูลได้โดยตรง)",
        "http://www.led.go.th/policy/stat.asp",
    ),
    "1.4.1": (
        "มีมาตรการป้องกัน/แก้ไขผลกระทบเชิงลบต่อสังคม ที่อาจเกิดขึ้นจากการดำเนินงานของหน่วยงาน โดยมาตรการนั้นคือ",
        "กระบวนการแก้ไขปัญหาการปิดหมายหรือประกาศในชั้นบังคับคดี กระบวนการการแก้ไขปัญหาการขายทอดตลาด"
        "โดยการจำนองติดไป การอายัดการมีหนี้จำนองแต่ยึดทรัพย์เกินกว่าหนี้จำนวนมาก",
    ),
    "2.1.1": ("หน่วยงานของท่านมีแผนยุทธศาสตร์ที่สามารถตอบสนองต่อ", ""),
    "2.3.1": (
        "แผนการดำเนินงาน/แผนปฏิบัติการ มีความสอดคล้องกับยุทธศาสตร์ทุกด้าน และมีการกำหนดขั้นตอนการดำเนินงาน"
        " ระยะเวลา และผู้รับผิดชอบที่ชัดเจน",
        "",
    ),
    "3.4.3": (
        "มีการรวบรวมข้อมูล สถิติข้อร้องเรียนมาเรียนรู้ และวิเคราะห์หาทางแก้ไขเพื่อลดอัตราข้อร้องเรียนที่พบบ่อย/ร้องเรียนซ้ำ"
        " โดยข้อร้องเรียนที่พบบ่อย/ร้องเรียนซ้ำ คือ",
        "การได้รับบริการล่าช้ากว่ากำหนด",
    ),
    "3.4.4": (
        "มีการตอบสนองกลับต่อข้อร้องเรียนภายในระยะเวลาที่กำหนด โดยวิธี",
        "รายงานผลดำเนินการตามข้อร้องเรียนภายใน 15 วัน ผ่านช่องทาง จดหมาย โทรศัพท์ e-mail",
    ),
    "4.4.5": (
        "หน่วยงานมีตัววัดเพื่อใช้ติดตามแผนงานรองรับการเปลี่ยนรูปแบบการทำงานเพื่อรองรับระบบเทคโนโลยีดิจิทัล ได้แก่",
        "ผลการใช้งบประมาณเทียบกับแผนปฏิบัติการดิจิทัล พ.ศ. 2561 - 2565",
    ),
    "5.1.1": ("มีการประเมินขีดความสามารถและอัตรากำลังด้านบุคลากร โดย (ระบุอย่างน้อย 2 ภารกิจ)", ""),
    "6.2.2": (
        "ในรอบปีที่ผ่านมาหน่วยงานมีการปรับปรุงกระบวนการหลักและกระบวนการสนับสนุน คือ",
        "ใช้แนวทางตามแนวคิดเชิงออกแบบ Design Thinking คือการพัฒนาทางด้านเทคโนโลยีสารสนเทศเพื่อสนับสนุน"
        "และเพิ่มประสิทธิภาพด้านการบังคับคดี (Case Excellence) และการพัฒนาช่องทางการเข้าถึงงานบริการของหน่วยงาน"
        " (Service Excellence)",
    ),
    "6.4.4": (
        "หน่วยงานมีการเตรียมการเชิงรุกเพื่อลดผลกระทบที่อาจเกิดขึ้นต่อประสิทธิผลของการดำเนินงาน โดย",
        "",
    ),
}


@pytest.mark.parametrize("code", sorted(PINNED))
def test_pinned_wording_and_answer(catalogue, code):
    wording, answer = PINNED[code]
    criterion = catalogue.get(code)
    assert criterion.wording == wording
    assert criterion.answer == answer


def test_pins_cover_every_category():
    assert {int(code[0]) for code in PINNED} == {1, 2, 3, 4, 5, 6}


def _labels(criterion):
    return [sp.label for sp in criterion.subprompts]


def test_1_1_1_subprompts(catalogue):
    c = catalogue.get("1.1.1")
    assert _labels(c) == ["ด้านเศรษฐกิจ", "ด้านสังคม", "ด้านสิ่งแวดล้อม", "ด้านสาธารณสุข"]
    by_label = {sp.label: sp.answer for sp in c.subprompts}
    assert by_label["ด้านสิ่งแวดล้อม"] == (
        "1. นโยบาย Paperless 2. ร่วมมือร่วมใจใช้ถุงผ้า 3. LED Save The Earth และ 4. นโยบายลดปริมาณขยะ"
    )
    assert by_label["ด้านสาธารณสุข"] == "นโยบายการปฏิบัติงานในช่วงสถานการณ์การแพร่ระบาดของเชื้อไวรัส COVID-19"
    assert by_label["ด้านเศรษฐกิจ"].startswith("1. การผลักดันทรัพย์สินออกจากระบบการบังคับคดี 2. ")


def test_2_1_1_checkbox_parts_and_their_follow_up_prompts(catalogue):
    c = catalogue.get("2.1.1")
    assert _labels(c) == [
        "ความท้าทาย",
        "โดยมียุทธศาสตร์ที่ตอบสนองความท้าทาย",
        "การเปลี่ยนแปลงในอนาคต",
        "โดยมียุทธศาสตร์ที่ตอบสนองการเปลี่ยนแปลงในอนาคต",
        "ความรับผิดชอบต่อสังคม",
        "โดยมียุทธศาสตร์ที่ตอบสนองความรับผิดชอบต่อสังคม",
    ]
    # the <ol> list after "ความท้าทาย คือ</p>" is that part's answer
    assert c.subprompts[0].answer.startswith("1. การเปลี่ยนแปลงของสภาพเศรษฐกิจ ชุมชน สังคมอย่างรวดเร็ว")
    assert c.subprompts[0].answer.endswith("ที่ส่งผลกระทบต่อความเสี่ยงที่จะเข้าสู่กระบวนการบังคับคดี")
    assert c.subprompts[3].answer == (
        "ยุทธศาสตร์ที่ 3 เสริมสร้างองค์กร Digital แผนงานพัฒนาเทคโนโลยีสารสนเทศและนวัตกรรมตามแนวทาง Thailand 4.0"
    )
    assert not c.checked


def test_3_4_3_follow_up_prompt(catalogue):
    c = catalogue.get("3.4.3")
    assert [(sp.label, sp.answer) for sp in c.subprompts] == [
        (
            "และมีแนวทางในการแก้ไข",
            "การจัดทำระบบคิว และระบบจองคิวล่วงหน้า ผ่านแอปพลิเคชัน LED QUEUE การลงทะเบียนผู้ซื้อทรัพย์สินล่วงหน้า",
        )
    ]


def test_6_4_4_inline_checkbox_parts(catalogue):
    c = catalogue.get("6.4.4")
    assert _labels(c) == [
        "มีการจัดการความเสี่ยง โดยความเสี่ยงนั้น",
        "เตรียมความพร้อมเพื่อรับมือกับภัยพิบัติและภาวะฉุกเฉิน โดยภัยพิบัติ/ภาวะฉุกเฉิน",
    ]
    assert c.subprompts[0].answer.startswith("ความเสี่ยงด้านเทคโนโลยีไม่พร้อมใช้ และจัดการโดยวิธีการ 1. ")
    assert c.subprompts[1].answer.endswith("มีการเตรียมความพร้อม คือ มีการซ้อมแผนฉุกเฉินทุกแผนและทุกปี")


def test_other_structures(catalogue):
    # 1.4.4 "- มาตรการจัดการด้าน… คือ" bullets
    assert _labels(catalogue.get("1.4.4")) == [
        "มาตรการจัดการด้านเศรษฐกิจ", "มาตรการจัดการด้านสังคม", "มาตรการจัดการด้านสาธารณสุข", "มาตรการจัดการด้านสิ่งแวดล้อม",
    ]
    # 5.1.1 paragraphs that each open with their own prompt
    assert _labels(catalogue.get("5.1.1")) == ["ภารกิจที่ 1", "ภารกิจที่ 2", "ภารกิจที่ 3", "ภารกิจที่ 4"]
    # 6.3.1 tick-box group headers followed by their bullets
    assert _labels(catalogue.get("6.3.1"))[:3] == [
        "กระบวนการหลักที่สำคัญ 2 ลำดับแรก", "กระบวนการหลักที่สำคัญลำดับแรก", "กระบวนการหลักที่สำคัญลำดับที่สอง",
    ]
    # 2.3.2 / 6.4.2: bullets inline in one line, not split at "พ.ศ. 2562 - 2566" or "E - Service"
    assert len(catalogue.get("6.4.2").subprompts) == 4
    assert catalogue.get("2.3.3").subprompts[2].answer == "แผนแม่บทการสื่อสารและประชาสัมพันธ์ พ.ศ. 2562 - 2566"


def test_page_breaks_are_glued_back(catalogue):
    # "… NPA (…) ดี" / blank line / "<p>ขึ้น แต่อาจ…" is one word cut by a page break
    assert "ได้ผล NPA (ทรัพย์สินที่ไม่ก่อให้เกิดรายได้) ดีขึ้น แต่อาจส่งผลกระทบ" in catalogue.get("1.1.4").answer
    assert catalogue.get("4.2.2").answer.startswith("ฐานข้อมูลบังคับคดีล้มละลาย ฐานข้อมูลหนี้รายบุคคล")
    assert "มาตรการป้องกันผลประโยชน์ทับซ้อน" in catalogue.get("1.2.4").answer


def test_checked_boxes(catalogue):
    assert catalogue.get("2.3.1").checked
    c = catalogue.get("3.4.2")
    assert c.checked and c.wording == "มีมาตรฐานการจัดการข้อร้องเรียน"
    assert all(sp.checked and not sp.answer for sp in c.subprompts) and len(c.subprompts) == 4
    assert [c.code for c in catalogue.criteria() if c.checked] == ["2.3.1", "3.4.2", "4.1.2"]


# -- model ---------------------------------------------------------------------

def test_query_text_leaves_the_answer_out(catalogue):
    c = catalogue.get("3.4.3")
    query = c.query_text()
    assert query.splitlines() == [c.item.title, c.wording, "และมีแนวทางในการแก้ไข"]
    assert "LED QUEUE" not in query and "ล่าช้า" not in query
    assert "LED QUEUE" in c.answer_text() and "การได้รับบริการล่าช้ากว่ากำหนด" in c.answer_text()
    # ticked parts without text still count as the agency's answer
    assert "กำหนดผู้รับผิดชอบชัดเจน" in catalogue.get("3.4.2").answer_text()


def test_get_unknown_code_names_it(catalogue):
    with pytest.raises(KeyError, match=r"unknown criterion code '9\.9\.9'.*94.*1\.1\.1 … 6\.4\.4"):
        catalogue.get("9.9.9")
    with pytest.raises(KeyError, match="unknown item code '3.9'"):
        catalogue.item("3.9")


def test_get_accepts_thai_digits_and_spaces(catalogue):
    assert catalogue.get(" ๓.๔.๓ ") is catalogue.get("3.4.3")


def test_json_round_trip(catalogue):
    again = Catalogue.from_json(catalogue.to_json())
    assert again == catalogue
    assert again.get("6.4.4").item.code == "6.4"


def test_json_with_other_schema_is_refused(catalogue):
    data = catalogue.to_dict()
    data["schema"] = 99
    with pytest.raises(ValueError, match="schema"):
        Catalogue.from_dict(data)


def test_load_catalogue_is_cached_and_reports_missing_file(tmp_path):
    assert load_catalogue() is load_catalogue(DEFAULT_PATH)
    with pytest.raises(FileNotFoundError, match="criteria catalogue not found"):
        load_catalogue(tmp_path / "nope.json")


def test_shipped_json_is_pretty_and_readable():
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert "ผู้บริหารกำหนดทิศทาง" in text  # ensure_ascii=False
    assert text.startswith('{\n  "schema": 1,')


def test_format_tree(catalogue):
    tree = format_tree(catalogue).splitlines()
    assert tree[0] == "หมวด 1 การนำองค์การ"
    assert tree[1] == "  1.1 ระบบการนำองค์การที่สร้างความยั่งยืน"
    assert sum(1 for line in tree if re.match(r"\s+.?\d\.\d\.\d ", line)) == 94
    assert any(line.strip().startswith("☑2.3.1 ") for line in tree)


def test_format_criterion(catalogue):
    text = format_criterion(catalogue.get("3.4.3"))
    assert text.startswith("3.4.3  หมวด 3 · 3.4 กระบวนการแก้ไขข้อร้องเรียนที่รวดเร็วและสร้างสรรค์")
    for expected in (
        catalogue.get("3.4.3").wording,
        "- และมีแนวทางในการแก้ไข",
        "☐ อยู่ในระหว่างดำเนินการ",
        "การได้รับบริการล่าช้ากว่ากำหนด",
    ):
        assert expected in text


def test_shorten_never_splits_a_thai_cluster():
    text = "ก" + "ที่" * 40  # no spaces, and width 10 lands between ท and its marks
    short = shorten(text, 10)
    kept = short[:-1]
    assert short.endswith("…") and text.startswith(kept)
    assert not unicodedata.category(text[len(kept)]).startswith("M")  # no mark cut off its letter


# -- the parser on the real form -------------------------------------------------

@needs_form
def test_shipped_json_equals_a_fresh_parse(form_text):
    fresh = parse_text(form_text)
    assert fresh == load_catalogue()
    assert fresh.to_json() == DEFAULT_PATH.read_text(encoding="utf-8")
    assert parse_file(FORM) == fresh


_INPUT = re.compile(r"<input\b[^>]*>")
_BLOCK = re.compile(r"</?(?:p|ol|li)\b[^>]*>")


def _as_document_text(line: str) -> str:
    """What a word processor would show for a line of the converted form."""
    line = _INPUT.sub(lambda m: "☑" if "checked" in m.group(0) else "☐", line)
    return _BLOCK.sub("\n", line)


def _write_docx(text: str, path: Path, table_from: str, table_to: str) -> None:
    """Paragraphs for the form, except the lines from `table_from` up to
    `table_to`, which go into a table (one row per line, a cell per tab),
    the way many agencies lay the form out."""
    document = docx.Document()
    rows: list[list[str]] | None = None
    for line in text.splitlines():
        shown = _as_document_text(line)
        stripped = re.sub(r"\s+", " ", shown).strip()
        if stripped.startswith(table_from):
            rows = []
        if rows is not None and stripped.startswith(table_to):
            _add_table(document, rows)
            rows = None
        if rows is not None:
            if stripped:
                rows.append(shown.split("\t"))
        else:
            document.add_paragraph(shown)  # python-docx turns \t and \n into tab / line-break runs
    assert rows is None, "table end marker not found"
    document.save(path)


def _add_table(document, rows: list[list[str]]) -> None:
    table = document.add_table(rows=len(rows), cols=max(len(r) for r in rows))
    for row, cells in zip(table.rows, rows):
        for cell, text in zip(row.cells, cells):
            cell.text = text


@needs_form
def test_docx_round_trip(form_text, tmp_path):
    path = tmp_path / "form3.docx"
    _write_docx(form_text, path, table_from="3.4 ", table_to="หมวด 4")
    table = docx.Document(path).tables[0]
    assert any("3.4.3" in cell.text for row in table.rows for cell in row.cells), "item 3.4 should be in a table"

    from_docx = parse_docx(path)
    from_text = parse_text(form_text)
    assert [c.code for c in from_docx.criteria()] == [c.code for c in from_text.criteria()]
    assert len(from_docx.criteria()) == 94
    assert [c.wording for c in from_docx.criteria()] == [c.wording for c in from_text.criteria()]
    assert from_docx == from_text  # answers, sub-prompts, ticks and choices too
    assert parse_file(path) == from_text


def test_docx_checkbox_symbols_in_table_cells(tmp_path):
    document = docx.Document()
    document.add_paragraph("หมวด 1 การนำองค์การ")
    document.add_paragraph("1.1 ระบบการนำองค์การที่สร้างความยั่งยืน")
    table = document.add_table(rows=4, cols=2)
    for row, (box, text) in zip(table.rows, [
        ("☒", "1.1.1 ผู้บริหารกำหนดทิศทาง โดยทิศทางคือ Service Excellence"),
        ("☐", "1.1.2 ผู้บริหารได้คำนึงถึงผลกระทบต่อสังคม"),
        ("☐", "ยังไม่มีผลการดำเนินการในเรื่องดังกล่าว"),
        ("☐", "อยู่ในระหว่างดำเนินการ"),
    ]):
        row.cells[0].text, row.cells[1].text = box, text
    path = tmp_path / "small.docx"
    document.save(path)
    catalogue = parse_docx(path)
    first, second = catalogue.criteria()
    assert first.checked and first.wording == "ผู้บริหารกำหนดทิศทาง โดยทิศทางคือ" and first.answer == "Service Excellence"
    assert not second.checked and second.answer == ""
    assert catalogue.item("1.1").choices == ["ยังไม่มีผลการดำเนินการในเรื่องดังกล่าว", "อยู่ในระหว่างดำเนินการ"]


# -- the parser on next year's form: same structure, other answers ------------------

NEXT_YEAR = """\
แบบฟอร์มที่ 3 ประจำปี พ.ศ. 2565
หมวด 1 การนำองค์การ
1.1 ระบบการนำองค์การที่สร้างความยั่งยืน
☐ 1.1.1 ผู้บริหารกำหนดทิศทาง (ระบุอย่างน้อย 2 ด้าน)
\t- ด้านสังคม เช่น 1. โครงการ ก 2. โครงการ ข
\t- ด้านสิ่งแวดล้อม เช่น ลดขยะ
☑ 1.1.2 ผู้บริหารกำหนดทิศทางองค์การ โดยทิศทางขององค์การคือ Smart Office และระบบ

งานใหม่
☐ ยังไม่มีการดำเนินการในเรื่องดังกล่าว
☐ อยู่ในระหว่าง ดำเนินการ
หมวด 2 การวางแผนเชิงยุทธศาสตร์
2.1 แผนยุทธศาสตร์
2.1.1 มีแผนยุทธศาสตร์ที่ตอบสนองต่อ
\t☑ ความท้าทาย คือ ค่าครองชีพ
\t☐ การเปลี่ยนแปลงในอนาคต คือ สังคมสูงวัย
ยังไม่มีผลการดำเนินการในเรื่องดังกล่าว
อยู่ในระหว่างดำเนินการ
"""


def test_parse_text_handles_a_plain_text_form():
    catalogue = parse_text(NEXT_YEAR)
    assert [c.code for c in catalogue.criteria()] == ["1.1.1", "1.1.2", "2.1.1"]
    c111, c112, c211 = catalogue.criteria()
    assert [(sp.label, sp.answer) for sp in c111.subprompts] == [
        ("ด้านสังคม", "1. โครงการ ก 2. โครงการ ข"),
        ("ด้านสิ่งแวดล้อม", "ลดขยะ"),
    ]
    assert c112.checked and c112.answer == "Smart Office และระบบงานใหม่"  # glued across the page break
    assert [(sp.label, sp.checked) for sp in c211.subprompts] == [("ความท้าทาย", True), ("การเปลี่ยนแปลงในอนาคต", False)]
    assert c211.checked
    assert catalogue.item("1.1").choices == ["ยังไม่มีการดำเนินการในเรื่องดังกล่าว", "อยู่ในระหว่าง ดำเนินการ"]


# -- bad input -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["", "   \n\t\n"])
def test_empty_text_is_refused(text):
    with pytest.raises(ValueError, match="form text is empty"):
        parse_text(text)


def test_text_without_categories_is_refused():
    with pytest.raises(ValueError, match="no category heading"):
        parse_text("บันทึกข้อความ\nเรื่อง ขออนุมัติเดินทางไปราชการ\n")


def test_broken_structure_names_the_line():
    broken = NEXT_YEAR.replace("☑ 1.1.2", "☑ 1.1.3")
    with pytest.raises(FormParseError, match=r"line 7: found criterion 1\.1\.3 where 1\.1\.2 was expected"):
        parse_text(broken)
    missing_item = NEXT_YEAR.replace("2.1 แผนยุทธศาสตร์\n", "")
    with pytest.raises(FormParseError, match=r"criterion 2\.1\.1 appears under หมวด 2"):
        parse_text(missing_item)


def test_docx_that_is_not_a_zip_is_refused(tmp_path):
    fake = tmp_path / "form.docx"
    fake.write_text("this is not a word document", encoding="utf-8")
    with pytest.raises(ValueError, match=r"form\.docx: not a DOCX file"):
        parse_docx(fake)
    with pytest.raises(ValueError, match="not a DOCX file"):
        parse_file(fake)


def test_unsupported_or_missing_files(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported form format '\.pdf'"):
        parse_file(tmp_path / "form.pdf")
    with pytest.raises(ValueError, match="no such file"):
        parse_file(tmp_path / "missing.txt")
