"""The completed แบบฟอร์มที่ 3: DOCX in the form's own layout, Markdown and JSON.

All three are rendered from one dict (`form_data`), so they cannot disagree. A criterion is
ticked (☑) only when a version of it was approved, and its narrative is the last approved
version's text: a newer draft (generated, edited or in review) does not replace it until it is
approved itself (`ReviewDB.approved_answers`).
Drafts that are not approved are left out unless asked for (`include_drafts`), marked as such:
the form is what the agency hands in, not a work in progress.

Citations: each draft numbers its own sources [1], [2] …; in the form they are renumbered to
point into one evidence appendix that lists every cited document once, with the pages, sheets
or rows cited and the criteria citing it.
"""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path

from kb.review import CITATION, ReviewDB

FORM_TITLE = "แบบฟอร์มที่ 3"
FORM_SUBTITLE = "แบบประเมินสถานะการเป็นระบบราชการ 4.0 ด้วยตนเอง"
APPENDIX_TITLE = "ภาคผนวก หลักฐานอ้างอิง"
APPENDIX_NOTE = "ตัวเลขในวงเล็บ [ ] ท้ายข้อความในคำตอบ หมายถึงลำดับของเอกสารในภาคผนวกนี้"
TICKED, UNTICKED = "☑", "☐"
FONT = "TH Sarabun New"
# TH Sarabun New has no ballot-box glyphs; a symbol font every Word installation has draws them.
TICK_FONT = "Segoe UI Symbol"
FORMATS = ("docx", "md", "json")


# --- the data -------------------------------------------------------------------------------------

def form_data(catalogue, db: ReviewDB, assessment_id: int, include_drafts: bool = False) -> dict:
    assessment = db.assessment(assessment_id)
    approved = db.approved_answers(assessment_id)
    latest = db.latest_versions(assessment_id) if include_drafts else {}
    appendix: dict[str, dict] = {}           # file name → entry, in order of first citation

    def cite(code: str, source: dict) -> int:
        entry = appendix.get(source.get("file_name", ""))
        if entry is None:
            entry = appendix[source.get("file_name", "")] = {
                "n": len(appendix) + 1, "file_name": source.get("file_name", ""),
                "fiscal_year": source.get("fiscal_year"), "places": [], "criteria": []}
        place = _place(source)
        if place and place not in entry["places"]:
            entry["places"].append(place)
        if code not in entry["criteria"]:
            entry["criteria"].append(code)
        return entry["n"]

    categories, n_approved = [], 0
    for cat in catalogue.categories:
        items = []
        for item in cat.items:
            criteria = []
            for c in item.criteria:
                version, is_approved = approved.get(c.code), c.code in approved
                if version is None and c.code in latest:
                    version = latest[c.code]
                n_approved += is_approved
                entry = {"code": c.code, "wording": c.wording,
                         "subprompts": [sp.label for sp in c.subprompts], "approved": is_approved,
                         "version": None, "approved_by": None, "approved_at": None, "text": "",
                         "citations": []}
                if version is not None:
                    by_n = {int(s["n"]): s for s in version.get("sources", [])}
                    text, refs = _renumber(_without_stem(version["text"], c.wording), by_n,
                                           lambda s, code=c.code: cite(code, s))
                    entry.update(version=version["version"], approved_by=version["approved_by"],
                                 approved_at=version["approved_at"], text=text, citations=refs)
                criteria.append(entry)
            items.append({"code": item.code, "title": item.title, "choices": list(item.choices),
                          "criteria": criteria})
        categories.append({"number": cat.number, "title": cat.title, "items": items})
    return {"form": f"{FORM_TITLE} {FORM_SUBTITLE}", "agency": assessment["agency"],
            "fiscal_year": assessment["fiscal_year"], "assessment_id": assessment_id,
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "include_drafts": include_drafts,
            "summary": {"criteria": sum(len(i["criteria"]) for c in categories for i in c["items"]),
                        "approved": n_approved},
            "categories": categories, "appendix": list(appendix.values())}


def _without_stem(text: str, wording: str) -> str:
    """Drafts open with the criterion's own wording (kb.draft.stem); the form prints that
    wording on the criterion's line already, so the narrative starts after it."""
    from kb.draft import stem
    lines = text.strip().splitlines()
    if lines and lines[0].strip() in (stem(wording), wording.strip()):
        lines = lines[1:]
    return "\n".join(lines).strip("\n")


def _place(source: dict) -> str:
    """Page / sheet / rows of a source, without the file name `Hit.where()` starts with."""
    where = source.get("where") or ""
    parts = [p for p in where.split(" · ") if p and p != source.get("file_name")]
    return " · ".join(parts)


def _renumber(text: str, sources: dict[int, dict], cite) -> tuple[str, list[int]]:
    """Rewrite a draft's own [n] markers into appendix numbers; markers for sources the draft
    does not have are left as written (the verifier already flagged them)."""
    refs: list[int] = []

    def one(m: re.Match) -> str:
        nums = []
        for part in m.group(1).split(","):
            n = int(part)
            if n in sources:
                k = cite(sources[n])
                nums.append(k)
                if k not in refs:
                    refs.append(k)
            else:
                return m.group(0)
        return "[" + ", ".join(str(k) for k in dict.fromkeys(nums)) + "]"
    return CITATION.sub(one, text), refs


# --- JSON and Markdown ---------------------------------------------------------------------------

def to_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def to_markdown(data: dict) -> str:
    out = [f"# {FORM_TITLE}", "", f"**{FORM_SUBTITLE} ประจำปี พ.ศ. {data['fiscal_year']}**", "",
           f"หน่วยงาน: {data['agency']}", ""]
    for cat in data["categories"]:
        out += [f"## หมวด {cat['number']} {cat['title']}", ""]
        for item in cat["items"]:
            out += [f"### {item['code']} {item['title']}", ""]
            for c in item["criteria"]:
                out.append(f"- {TICKED if c['approved'] else UNTICKED} **{c['code']}** {c['wording']}")
                if c["text"]:
                    if not c["approved"]:
                        out.append("  *(ร่าง ยังไม่อนุมัติ)*")
                    out += [f"  > {line.strip()}" if line.strip() else "  >" for line in c["text"].splitlines()]
            out += [f"- {UNTICKED} {choice}" for choice in item["choices"]]
            out.append("")
    out += [f"## {APPENDIX_TITLE}", "", APPENDIX_NOTE, ""]
    if data["appendix"]:
        out += ["| ลำดับ | เอกสาร | ตำแหน่งที่อ้าง | อ้างในเกณฑ์ |", "|---|---|---|---|"]
        for a in data["appendix"]:
            out.append(f"| {a['n']} | {_md_cell(a['file_name'])} | {_md_cell(', '.join(a['places']) or '—')} "
                       f"| {', '.join(a['criteria'])} |")
    else:
        out.append("ยังไม่มีคำตอบที่อนุมัติซึ่งอ้างอิงเอกสาร")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


# --- DOCX ----------------------------------------------------------------------------------------

# The order ECMA-376 prescribes for the children of w:rPr (CT_RPr's sequence).
_RPR_ORDER = ("w:rStyle", "w:rFonts", "w:b", "w:bCs", "w:i", "w:iCs", "w:caps", "w:smallCaps", "w:strike",
              "w:dstrike", "w:outline", "w:shadow", "w:emboss", "w:imprint", "w:noProof", "w:snapToGrid",
              "w:vanish", "w:webHidden", "w:color", "w:spacing", "w:w", "w:kern", "w:position", "w:sz",
              "w:szCs", "w:highlight", "w:u", "w:effect", "w:bdr", "w:shd", "w:fitText", "w:vertAlign",
              "w:rtl", "w:cs", "w:em", "w:lang", "w:eastAsianLayout", "w:specVanish", "w:oMath")


def _child(rpr, tag: str):
    """The rPr child `tag` ("w:szCs" …), created in its schema position if missing: Word
    rejects a document whose run properties are out of order."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    el = rpr.find(qn(tag))
    if el is None:
        el = OxmlElement(tag)
        later = {qn(t) for t in _RPR_ORDER[_RPR_ORDER.index(tag) + 1:]}
        following = next((c for c in rpr if c.tag in later), None)
        if following is None:
            rpr.append(el)
        else:
            following.addprevious(el)
    return el


def _thai_font(rpr, size_pt: float | None = None, font: str = FONT, bold: bool = False) -> None:
    """Set `font` for every script slot of a run properties element (w:rPr). Word picks the
    complex-script slots for Thai (w:cs font, w:szCs size, w:bCs bold); python-docx's
    `font.name`, `font.size` and `bold` set only the Latin ones, and theme attributes would
    override them all, so those go."""
    from docx.oxml.ns import qn
    fonts = _child(rpr, "w:rFonts")
    for attr in ("asciiTheme", "hAnsiTheme", "eastAsiaTheme", "cstheme"):
        fonts.attrib.pop(qn(f"w:{attr}"), None)
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), font)
    if bold:
        _child(rpr, "w:b")
        _child(rpr, "w:bCs")
    if size_pt:
        for tag in ("w:sz", "w:szCs"):
            _child(rpr, tag).set(qn("w:val"), str(int(size_pt * 2)))      # half-points
    _child(rpr, "w:lang").set(qn("w:bidi"), "th-TH")   # the language of complex-script text


def _setup(doc) -> None:
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt, RGBColor
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)           # A4
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2.0)
    section.left_margin, section.right_margin = Cm(3.0), Cm(2.0)
    # document defaults too, so text in any style we did not touch is Thai-capable
    rpr_default = doc.styles.element.find(qn("w:docDefaults") + "/" + qn("w:rPrDefault"))
    if rpr_default is not None:
        rpr = rpr_default.find(qn("w:rPr"))
        if rpr is None:
            rpr = OxmlElement("w:rPr")
            rpr_default.append(rpr)
        _thai_font(rpr, 16)
    sizes = {"Normal": 16, "Title": 20, "Subtitle": 18, "Heading 1": 18, "Heading 2": 16,
             "Heading 3": 16, "Table Grid": 14, "List Paragraph": 16}
    for name, size in sizes.items():
        try:
            style = doc.styles[name]
        except KeyError:
            continue
        if style.type not in (WD_STYLE_TYPE.PARAGRAPH, WD_STYLE_TYPE.TABLE):
            continue
        heading = name.startswith(("Heading", "Title", "Subtitle"))
        _thai_font(style.element.get_or_add_rPr(), size, bold=heading)
        if heading:
            style.font.color.rgb = RGBColor(0, 0, 0)
            style.font.italic = False
            style.paragraph_format.space_before = Pt(10)
            style.paragraph_format.space_after = Pt(4)
    doc.styles["Normal"].paragraph_format.space_after = Pt(2)


def _run(paragraph, text: str, bold: bool = False, tick: bool = False):
    run = paragraph.add_run(text)
    if tick:
        _thai_font(run._r.get_or_add_rPr(), None, TICK_FONT)
    elif bold:
        _thai_font(run._r.get_or_add_rPr(), None, bold=True)
    return run


def to_docx(data: dict, out=None):
    """Write the form to `out` (a path or a binary file object); with no `out`, return bytes."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
    from docx.shared import Cm

    doc = Document()
    _setup(doc)
    core = doc.core_properties
    core.title = f"{FORM_TITLE} {FORM_SUBTITLE} ประจำปี พ.ศ. {data['fiscal_year']}"
    core.author = data["agency"]
    core.language = "th-TH"

    title = doc.add_paragraph(FORM_TITLE, style="Title")
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    sub = doc.add_paragraph(f"{FORM_SUBTITLE} ประจำปี พ.ศ. {data['fiscal_year']}", style="Subtitle")
    sub.alignment = WD_ALIGN_PARAGRAPH.CENTER
    agency = doc.add_paragraph()
    agency.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(agency, "หน่วยงาน ", bold=True)
    _run(agency, data["agency"])

    for cat in data["categories"]:
        doc.add_paragraph(f"หมวด {cat['number']} {cat['title']}", style="Heading 1")
        for item in cat["items"]:
            doc.add_paragraph(f"{item['code']} {item['title']}", style="Heading 2")
            for c in item["criteria"]:
                p = doc.add_paragraph()
                p.paragraph_format.left_indent = Cm(0.8)
                p.paragraph_format.first_line_indent = Cm(-0.8)
                _run(p, (TICKED if c["approved"] else UNTICKED) + "\t", tick=True)
                _run(p, c["code"] + " ", bold=True)
                _run(p, c["wording"])
                if c["text"]:
                    if not c["approved"]:
                        note = doc.add_paragraph()
                        note.paragraph_format.left_indent = Cm(1.6)
                        _run(note, "(ร่าง ยังไม่อนุมัติ)").italic = True
                    for line in c["text"].splitlines():
                        if line.strip():
                            para = doc.add_paragraph(line.strip())
                            # sub-prompt items are indented under their heading in the draft
                            depth = (len(line) - len(line.lstrip())) // 2
                            para.paragraph_format.left_indent = Cm(1.6 + 0.6 * depth)
            for choice in item["choices"]:
                p = doc.add_paragraph()
                p.paragraph_format.left_indent = Cm(0.8)
                p.paragraph_format.first_line_indent = Cm(-0.8)
                _run(p, UNTICKED + "\t", tick=True)
                _run(p, choice)

    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    doc.add_paragraph(APPENDIX_TITLE, style="Heading 1")
    doc.add_paragraph(APPENDIX_NOTE)
    if data["appendix"]:
        table = doc.add_table(rows=1, cols=4)
        table.style = doc.styles["Table Grid"]
        for cell, text in zip(table.rows[0].cells, ("ลำดับ", "เอกสาร", "ตำแหน่งที่อ้าง", "อ้างในเกณฑ์")):
            cell.text = ""
            _run(cell.paragraphs[0], text, bold=True)
        for a in data["appendix"]:
            year = f" (พ.ศ. {a['fiscal_year']})" if a.get("fiscal_year") else ""
            cells = table.add_row().cells
            cells[0].text = str(a["n"])
            cells[1].text = a["file_name"] + year
            cells[2].text = ", ".join(a["places"]) or "—"
            cells[3].text = ", ".join(a["criteria"])
        for row, width in ((0, 1.3), (1, 6.5), (2, 5.0), (3, 3.2)):
            for cell in table.columns[row].cells:
                cell.width = Cm(width)
    else:
        doc.add_paragraph("ยังไม่มีคำตอบที่อนุมัติซึ่งอ้างอิงเอกสาร")

    if out is None:
        buf = io.BytesIO()
        doc.save(buf)
        return buf.getvalue()
    doc.save(str(out) if isinstance(out, Path) else out)
    return None


def render(data: dict, fmt: str) -> bytes:
    if fmt == "docx":
        return to_docx(data)
    if fmt == "md":
        return to_markdown(data).encode("utf-8")
    if fmt == "json":
        return to_json(data).encode("utf-8")
    raise ValueError(f"unknown export format '{fmt}' (use {', '.join(FORMATS)})")


MEDIA_TYPES = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
               "md": "text/markdown; charset=utf-8", "json": "application/json"}


def file_name(data: dict, fmt: str) -> str:
    return f"form3-{data['fiscal_year']}.{fmt}"
