"""The completed form, opened the way a reader would: DOCX with python-docx, Markdown, JSON."""
from __future__ import annotations

import io
import json

import docx
import pytest
from docx.oxml.ns import qn

from kb import auth, export
from kb.criteria import load_catalogue
from kb.review import ReviewDB

SOURCES = [
    {"n": 1, "chunk_id": "a:0", "file_name": "efiling-policy-2564.md", "where": "efiling-policy-2564.md · หน้า 2",
     "passage": "ระบบ e-Filing", "fiscal_year": 2564},
    {"n": 2, "chunk_id": "b:3", "file_name": "led-queue-2564.xlsx",
     "where": "led-queue-2564.xlsx · ชีต LED Queue · แถว 2–4", "passage": "ตุลาคม 4120", "fiscal_year": 2564},
]


@pytest.fixture
def filled(tmp_path):
    """An assessment with 1.3.1 approved (citing two documents), 4.4.1 approved citing one of
    them again, and 2.1.1 drafted but not approved."""
    cat = load_catalogue()
    db = ReviewDB(f"sqlite:///{tmp_path / 'r.sqlite'}")
    a = db.create_assessment("กรมบังคับคดี", 2564)
    ed = auth.add_user(db, "ed", "editor-pass", "editor")
    rv = auth.add_user(db, "rv", "reviewer-pass", "reviewer")
    from kb.draft import stem
    text = (f"{stem(cat.get('1.3.1').wording)}\n  1. ระบบ e-Filing ร่วมกับภาคเอกชน [1]\n"
            "  2. ผู้รับบริการเดือนตุลาคม 4,120 ราย [2][1]")
    db.add_version(a["id"], "1.3.1", ed["id"], kind="generated", text=text, sources=SOURCES, sentences=[])
    db.submit(a["id"], "1.3.1", ed["id"])
    db.approve(a["id"], "1.3.1", 1, rv["id"])
    db.add_version(a["id"], "4.4.1", ed["id"], kind="edited", text="สถิติคิวรายเดือน [1]",
                   sources=[{**SOURCES[1], "n": 1}], sentences=[])
    db.submit(a["id"], "4.4.1", ed["id"])
    db.approve(a["id"], "4.4.1", 1, rv["id"])
    db.add_version(a["id"], "2.1.1", ed["id"], kind="edited", text="ร่างที่ยังไม่อนุมัติ", sources=[], sentences=[])
    yield cat, db, a["id"]
    db.dispose()


def paragraphs(document):
    return [p.text for p in document.paragraphs]


def test_docx_layout_ticks_narratives_and_appendix(filled, tmp_path):
    cat, db, aid = filled
    data = export.form_data(cat, db, aid)
    out = tmp_path / "form.docx"
    export.to_docx(data, out)
    d = docx.Document(str(out))
    texts = paragraphs(d)
    assert texts[0] == "แบบฟอร์มที่ 3"
    assert "ประจำปี พ.ศ. 2564" in texts[1] and "กรมบังคับคดี" in texts[2]

    headings1 = [p.text for p in d.paragraphs if p.style.name == "Heading 1"]
    headings2 = [p.text for p in d.paragraphs if p.style.name == "Heading 2"]
    assert headings1[:6] == [f"หมวด {c.number} {c.title}" for c in cat.categories]
    assert headings1[6] == export.APPENDIX_TITLE
    assert headings2 == [f"{i.code} {i.title}" for i in cat.items()] and len(headings2) == 24

    crit_lines = {t.split("\t")[1].split(" ")[0]: t for t in texts if t[:1] in "☑☐" and "\t" in t
                  and t.split("\t")[1][:1].isdigit()}
    assert len(crit_lines) == 94
    ticked = sorted(code for code, t in crit_lines.items() if t.startswith("☑"))
    assert ticked == ["1.3.1", "4.4.1"]                     # 2.1.1 is only a draft
    assert crit_lines["2.1.1"].startswith("☐")

    # the narrative sits under its criterion, without repeating the wording, citations renumbered
    i = texts.index(crit_lines["1.3.1"])
    assert texts[i + 1] == "1. ระบบ e-Filing ร่วมกับภาคเอกชน [1]"
    assert texts[i + 2] == "2. ผู้รับบริการเดือนตุลาคม 4,120 ราย [2][1]"
    j = texts.index(crit_lines["4.4.1"])
    assert texts[j + 1] == "สถิติคิวรายเดือน [2]"           # its own [1] is the appendix's document 2
    assert "ร่างที่ยังไม่อนุมัติ" not in texts

    table = d.tables[0]
    rows = [[c.text for c in r.cells] for r in table.rows]
    assert rows[0] == ["ลำดับ", "เอกสาร", "ตำแหน่งที่อ้าง", "อ้างในเกณฑ์"]
    assert rows[1] == ["1", "efiling-policy-2564.md (พ.ศ. 2564)", "หน้า 2", "1.3.1"]
    assert rows[2] == ["2", "led-queue-2564.xlsx (พ.ศ. 2564)", "ชีต LED Queue · แถว 2–4", "1.3.1, 4.4.1"]

    # Thai renders only if the complex-script font slot is set, on the styles and the defaults
    for name in ("Normal", "Heading 1", "Heading 2", "Title"):
        fonts = d.styles[name].element.rPr.find(qn("w:rFonts"))
        assert {fonts.get(qn(f"w:{a}")) for a in ("ascii", "hAnsi", "eastAsia", "cs")} == {"TH Sarabun New"}
        assert fonts.get(qn("w:asciiTheme")) is None
        assert d.styles[name].element.rPr.find(qn("w:szCs")) is not None
    defaults = d.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    assert defaults.find(qn("w:rFonts")).get(qn("w:cs")) == "TH Sarabun New"
    assert d.core_properties.language == "th-TH"


def test_drafts_can_be_included_marked(filled, tmp_path):
    cat, db, aid = filled
    data = export.form_data(cat, db, aid, include_drafts=True)
    d = docx.Document(io.BytesIO(export.to_docx(data)))
    texts = paragraphs(d)
    i = next(k for k, t in enumerate(texts) if t.startswith("☐\t2.1.1"))
    assert texts[i + 1] == "(ร่าง ยังไม่อนุมัติ)" and texts[i + 2] == "ร่างที่ยังไม่อนุมัติ"


def test_markdown_and_json_say_the_same(filled):
    cat, db, aid = filled
    data = export.form_data(cat, db, aid)
    md = export.to_markdown(data)
    assert "## หมวด 1 การนำองค์การ" in md and "- ☑ **1.3.1**" in md and "- ☐ **2.1.1**" in md
    assert "  > 2. ผู้รับบริการเดือนตุลาคม 4,120 ราย [2][1]" in md
    assert "| 2 | led-queue-2564.xlsx | ชีต LED Queue · แถว 2–4 | 1.3.1, 4.4.1 |" in md
    parsed = json.loads(export.to_json(data))
    assert parsed["summary"] == {"criteria": 94, "approved": 2}
    c131 = parsed["categories"][0]["items"][2]["criteria"][0]
    assert c131["code"] == "1.3.1" and c131["approved"] and c131["citations"] == [1, 2]
    assert c131["approved_by"] == "rv" and c131["version"] == 1
    with pytest.raises(ValueError):
        export.render(data, "pdf")


def test_a_newer_draft_never_drops_the_approved_answer(filled):
    """1.3.1 gets a new machine draft, 4.4.1 an edit being reviewed: both stay ticked with the
    approved text, with or without drafts (an approved answer beats a newer draft)."""
    cat, db, aid = filled
    ed = next(u for u in db.users() if u["name"] == "ed")
    db.add_version(aid, "1.3.1", ed["id"], kind="generated", text="ร่างใหม่จากระบบ [1]", sources=SOURCES,
                   sentences=[])
    db.add_version(aid, "4.4.1", ed["id"], kind="edited", text="ฉบับแก้ที่ยังไม่อนุมัติ", sources=[],
                   sentences=[], base_version=1, check_base=True)
    db.submit(aid, "4.4.1", ed["id"])
    for include_drafts in (False, True):
        data = export.form_data(cat, db, aid, include_drafts=include_drafts)
        md = export.to_markdown(data)
        assert "- ☑ **1.3.1**" in md and "- ☑ **4.4.1**" in md, include_drafts
        assert "ผู้รับบริการเดือนตุลาคม 4,120 ราย" in md and "สถิติคิวรายเดือน" in md
        assert "ร่างใหม่จากระบบ" not in md and "ฉบับแก้ที่ยังไม่อนุมัติ" not in md
        assert data["summary"]["approved"] == 2


def test_empty_assessment_exports_all_unticked(tmp_path):
    db = ReviewDB(f"sqlite:///{tmp_path / 'r.sqlite'}")
    a = db.create_assessment("กรมว่าง", 2567)
    d = docx.Document(io.BytesIO(export.render(export.form_data(load_catalogue(), db, a["id"]), "docx")))
    texts = paragraphs(d)
    assert not any(t.startswith("☑") for t in texts)
    assert "ยังไม่มีคำตอบที่อนุมัติซึ่งอ้างอิงเอกสาร" in texts and not d.tables
