#!/usr/bin/env python3
"""Render the sample corpus (demo data and development set) from its text sources.

    python scripts/build_corpus.py            # render corpus/, labels and docs/corpus.md
    python scripts/build_corpus.py --check    # only validate the sources and labels

The documents are data, not Python: one source file per document under scripts/corpus_src/
(`*.md` with YAML front matter for prose documents, `*.yaml` for spreadsheets and CSV).
Files whose names start with `_` hold the draft expectations and the docs/corpus.md intro.

Everything in corpus/ is owned by this script: stale files are removed, and the output is
byte-for-byte reproducible (fixed timestamps in PDF/DOCX/XLSX, fixed zip entry dates).
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "scripts" / "corpus_src"
OUT = ROOT / "corpus"
DOCS_MD = ROOT / "docs" / "corpus.md"
FORM_CANDIDATES = [ROOT.parent / "shared" / "form" / "form3-2564-led.txt",
                   Path("/work/shared/form/form3-2564-led.txt")]

FONT_DIR = Path("/usr/share/fonts/truetype/tlwg")
AGENCY = "กรมบังคับคดี"

# Items of แบบฟอร์มที่ 3 and how many criteria each has (94 in all).
ITEM_SIZES = {
    "1.1": 5, "1.2": 6, "1.3": 4, "1.4": 4,
    "2.1": 3, "2.2": 3, "2.3": 3, "2.4": 3,
    "3.1": 3, "3.2": 2, "3.3": 3, "3.4": 5,
    "4.1": 3, "4.2": 4, "4.3": 4, "4.4": 6,
    "5.1": 5, "5.2": 4, "5.3": 5, "5.4": 4,
    "6.1": 4, "6.2": 3, "6.3": 4, "6.4": 4,
}
ALL_CODES = [f"{item}.{i}" for item, n in ITEM_SIZES.items() for i in range(1, n + 1)]

FORMATS = {"pdf", "docx", "xlsx", "csv", "html", "txt", "md"}
THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def code_key(code: str) -> tuple[int, ...]:
    return tuple(int(p) for p in code.split("."))


# --------------------------------------------------------------------------- sources

@dataclass
class Block:
    kind: str                      # h, p, ul, ol, table
    text: str = ""
    level: int = 0
    align: str = "L"               # L, C, R (for p)
    items: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Sheet:
    name: str
    header: list[str]
    rows: list[list]
    title: str | None = None
    subtitle: str | None = None
    total: dict | None = None       # {label, func (SUM|AVERAGE), cols: [...]}
    row_formulas: dict = field(default_factory=dict)   # col index -> template with {r}
    number_formats: dict = field(default_factory=dict)  # col index -> format
    notes: list[str] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)


@dataclass
class Doc:
    source: Path
    meta: dict
    blocks: list[Block] = field(default_factory=list)
    body: str = ""
    sheets: list[Sheet] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.meta["file"]

    @property
    def fmt(self) -> str:
        return self.meta["format"]

    @property
    def criteria(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (self.meta.get("criteria") or {}).items()}

    @property
    def distractor(self) -> bool:
        return bool(self.meta.get("distractor"))

    @property
    def when(self) -> datetime:
        d = self.meta["date"]
        if isinstance(d, str):
            d = date.fromisoformat(d)
        return datetime(d.year, d.month, d.day, 9, 0, 0, tzinfo=timezone.utc)

    def plain_text(self) -> str:
        """The document's words as a reader sees them (used for checks and word counts)."""
        parts: list[str] = []
        for b in self.blocks:
            if b.kind in ("h", "p"):
                parts.append(b.text)
            elif b.kind in ("ul", "ol"):
                parts.extend(b.items)
            elif b.kind == "table":
                parts.append(" ".join(b.header))
                parts.extend(" ".join(r) for r in b.rows)
        for s in self.sheets:
            parts.extend(x for x in (s.title, s.subtitle) if x)
            parts.append(" ".join(s.header))
            parts.extend(" ".join(fmt_cell(c) for c in r) for r in s.rows)
            if s.total:
                parts.append(s.total.get("label", ""))
            parts.extend(s.notes)
        return "\n".join(parts)


ALIGN_PREFIX = re.compile(r"^::(center|right)\s+")
OL_ITEM = re.compile(r"^\d+\.\s+")


def parse_blocks(body: str) -> list[Block]:
    blocks: list[Block] = []
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
            continue
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            blocks.append(Block("h", text=line[level:].strip(), level=level))
            i += 1
        elif line.startswith("|"):
            tbl = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                    tbl.append(cells)
                i += 1
            blocks.append(Block("table", header=tbl[0], rows=tbl[1:]))
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(lines[i][2:].strip())
                i += 1
            blocks.append(Block("ul", items=items))
        elif OL_ITEM.match(line):
            items = []
            while i < len(lines) and OL_ITEM.match(lines[i]):
                items.append(OL_ITEM.sub("", lines[i]).strip())
                i += 1
            blocks.append(Block("ol", items=items))
        else:
            m = ALIGN_PREFIX.match(line)
            align = {"center": "C", "right": "R"}[m.group(1)] if m else "L"
            text = ALIGN_PREFIX.sub("", line).strip()
            i += 1
            # a paragraph continues on following plain lines (sources keep one line per paragraph)
            while (i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "|", "- ", "::"))
                   and not OL_ITEM.match(lines[i])):
                text += " " + lines[i].strip()
                i += 1
            blocks.append(Block("p", text=text, align=align))
    return blocks


def load_doc(path: Path) -> Doc:
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".md":
        m = re.match(r"^---\n(.*?)\n---\n(.*)$", raw, re.S)
        if not m:
            raise SystemExit(f"{path.name}: missing YAML front matter")
        meta = yaml.safe_load(m.group(1))
        body = m.group(2).strip() + "\n"
        return Doc(path, meta, parse_blocks(body), body)
    data = yaml.safe_load(raw)
    sheets = []
    for s in data.pop("sheets"):
        sheets.append(Sheet(
            name=s["name"], header=s["header"], rows=s["rows"], title=s.get("title"),
            subtitle=s.get("subtitle"), total=s.get("total"),
            row_formulas={int(k): v for k, v in (s.get("row_formulas") or {}).items()},
            number_formats={int(k): v for k, v in (s.get("number_formats") or {}).items()},
            notes=s.get("notes") or [], widths=s.get("widths") or [],
        ))
        sh = sheets[-1]
        for col, expected in (s.get("expect_totals") or {}).items():
            got = sum(r[int(col)] for r in sh.rows)
            if abs(got - expected) > 1e-6:
                raise SystemExit(f"{path.name}: sheet {sh.name} column {col} sums to {got}, expected {expected}")
    return Doc(path, data, sheets=sheets)


def load_sources(src: Path) -> list[Doc]:
    docs = [load_doc(p) for p in sorted(src.iterdir())
            if p.suffix in (".md", ".yaml") and not p.name.startswith("_")]
    return docs


def fmt_cell(c) -> str:
    if isinstance(c, float):
        return f"{c:,.2f}"
    if isinstance(c, int):
        return f"{c:,}"
    return "" if c is None else str(c)


# --------------------------------------------------------------------------- determinism

FIXED_ZIP_TIME = (2021, 9, 30, 9, 0, 0)


def normalize_zip(path: Path, when: datetime) -> None:
    """Rewrite an OOXML package with fixed entry dates and fixed core-property times.

    python-docx and openpyxl stamp zip entries (and openpyxl docProps/core.xml) with the
    current time, which would make every build differ.
    """
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    with zipfile.ZipFile(path) as zin:
        entries = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                              lambda m: m.group(1) + stamp.encode() + m.group(2), data)
            info = zipfile.ZipInfo(name, date_time=FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())


# --------------------------------------------------------------------------- renderers

def render_md(doc: Doc, path: Path) -> None:
    body = "\n".join(ALIGN_PREFIX.sub("", ln) for ln in doc.body.splitlines()) + "\n"
    path.write_text(body, encoding="utf-8")


def render_txt(doc: Doc, path: Path) -> None:
    out: list[str] = []
    for b in doc.blocks:
        if b.kind == "h":
            out.append(b.text)
            if b.level == 1:
                out.append("=" * 40)
        elif b.kind == "p":
            pad = {"C": " " * 20, "R": " " * 40}.get(b.align, "")
            out.append(pad + b.text)
        elif b.kind == "ul":
            out.extend(f"  - {it}" for it in b.items)
        elif b.kind == "ol":
            out.extend(f"  {n}. {it}" for n, it in enumerate(b.items, 1))
        elif b.kind == "table":
            out.append(" | ".join(b.header))
            out.extend(" | ".join(r) for r in b.rows)
        out.append("")
    text = "\n".join(out).rstrip() + "\n"
    enc = doc.meta.get("encoding", "utf-8")
    newline = "\r\n" if doc.meta.get("crlf") else "\n"
    path.write_bytes(text.replace("\n", newline).encode(enc))


HTML_CHROME_TOP = """<header class="site">
<div class="brand">กรมบังคับคดี กระทรวงยุติธรรม | Legal Execution Department</div>
<nav><a href="/">หน้าหลัก</a> | <a href="/about">เกี่ยวกับกรม</a> | <a href="/news">ข่าวประชาสัมพันธ์</a> | <a href="/eservice">บริการอิเล็กทรอนิกส์</a> | <a href="/contact">ติดต่อเรา</a></nav>
</header>"""
HTML_CHROME_BOTTOM = """<footer class="site">
<p>กรมบังคับคดี ถนนราชพฤกษ์ แขวงตลิ่งชัน เขตตลิ่งชัน กรุงเทพมหานคร | สายด่วน 1111 กด 79</p>
<p>สงวนลิขสิทธิ์ | นโยบายเว็บไซต์ | นโยบายการคุ้มครองข้อมูลส่วนบุคคล</p>
</footer>"""


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_html(doc: Doc, path: Path) -> None:
    body: list[str] = []
    for b in doc.blocks:
        if b.kind == "h":
            body.append(f"<h{b.level}>{_esc(b.text)}</h{b.level}>")
        elif b.kind == "p":
            style = {"C": ' style="text-align:center"', "R": ' style="text-align:right"'}.get(b.align, "")
            body.append(f"<p{style}>{_esc(b.text)}</p>")
        elif b.kind in ("ul", "ol"):
            body.append(f"<{b.kind}>" + "".join(f"<li>{_esc(i)}</li>" for i in b.items) + f"</{b.kind}>")
        elif b.kind == "table":
            head = "".join(f"<th>{_esc(c)}</th>" for c in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f'<table border="1">\n<thead><tr>{head}</tr></thead>\n<tbody>{rows}</tbody>\n</table>')
    chrome = doc.meta.get("html_chrome", True)
    html = [
        "<!DOCTYPE html>",
        '<html lang="th">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_esc(doc.meta['title'])}</title>",
        f'<meta name="date" content="{doc.when.date().isoformat()}">',
        "<style>body{font-family:Sarabun,Tahoma,sans-serif;max-width:60em;margin:auto}"
        "table{border-collapse:collapse}td,th{padding:4px 8px}</style>",
        "</head>",
        "<body>",
        HTML_CHROME_TOP if chrome else "",
        '<main class="content">',
        *body,
        "</main>",
        HTML_CHROME_BOTTOM if chrome else "",
        "</body>",
        "</html>",
    ]
    path.write_text("\n".join(x for x in html if x) + "\n", encoding="utf-8")


def render_csv(doc: Doc, path: Path) -> None:
    (sheet,) = doc.sheets
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(sheet.header)
    for r in sheet.rows:
        w.writerow(["" if c is None else c for c in r])
    enc = doc.meta.get("encoding", "utf-8")
    path.write_bytes(buf.getvalue().encode(enc))


def render_xlsx(doc: Doc, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for sh in doc.sheets:
        ws = wb.create_sheet(sh.name)
        ncol = len(sh.header)
        r = 1
        if sh.title:
            ws.cell(row=r, column=1, value=sh.title).font = Font(bold=True, size=14)
            ws.cell(row=r, column=1).alignment = Alignment(horizontal="center")
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncol)
            r += 1
        if sh.subtitle:
            ws.cell(row=r, column=1, value=sh.subtitle).alignment = Alignment(horizontal="center")
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=ncol)
            r += 1
        header_row = r
        for c, h in enumerate(sh.header, 1):
            cell = ws.cell(row=r, column=c, value=h)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor="DDEBF7")
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
            cell.border = border
        r += 1
        first = r
        for row in sh.rows:
            for c, v in enumerate(row, 1):
                if (c - 1) in sh.row_formulas:
                    v = sh.row_formulas[c - 1].format(r=r)
                cell = ws.cell(row=r, column=c, value=v)
                cell.border = border
                fmt = sh.number_formats.get(c - 1)
                if fmt:
                    cell.number_format = fmt
                elif isinstance(v, int) or (isinstance(v, str) and v.startswith("=")):
                    cell.number_format = "#,##0"
                elif isinstance(v, float):
                    cell.number_format = "#,##0.00"
            r += 1
        last = r - 1
        if sh.total:
            func = sh.total.get("func", "SUM")
            ws.cell(row=r, column=1, value=sh.total.get("label", "รวม")).font = Font(bold=True)
            for c in range(1, ncol + 1):
                ws.cell(row=r, column=c).border = border
            for col in sh.total["cols"]:
                L = get_column_letter(col + 1)
                cell = ws.cell(row=r, column=col + 1, value=f"={func}({L}{first}:{L}{last})")
                cell.font = Font(bold=True)
                cell.number_format = sh.number_formats.get(col, "#,##0" if func == "SUM" else "#,##0.00")
            r += 1
        r += 1
        for note in sh.notes:
            ws.cell(row=r, column=1, value=note)
            r += 1
        for c in range(1, ncol + 1):
            width = sh.widths[c - 1] if c - 1 < len(sh.widths) else 16
            ws.column_dimensions[get_column_letter(c)].width = width
        ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    wb.properties.creator = AGENCY
    wb.properties.lastModifiedBy = AGENCY
    wb.properties.title = doc.meta["title"]
    wb.properties.created = doc.when.replace(tzinfo=None)
    wb.save(path)
    store_formula_results(path, wb.sheetnames)
    normalize_zip(path, doc.when)


def store_formula_results(path: Path, sheet_names: list[str]) -> None:
    """Save each formula's result beside it, as Excel does on save (openpyxl never calculates).

    The corpus then reads like a workbook an officer saved from Excel: any reader, ours with
    its evaluator switched off or another program, sees the numbers. openpyxl writes sheet n
    of the workbook as xl/worksheets/sheet{n}.xml and every formula cell as
    `<c r="E4" …><f>…</f><v></v></c>`.
    """
    from ingest.workbook import computed_values

    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    cell = re.compile(r'<c r="([A-Z]+[0-9]+)"([^>]*)><f>([^<]*)</f><v></v></c>')
    wanted = {(sheet, m.group(1)) for n, sheet in enumerate(sheet_names, 1)
              for m in cell.finditer(entries[f"xl/worksheets/sheet{n}.xml"].decode())}
    results = computed_values(path, wanted, max_formula_cells=len(wanted))
    for n, sheet in enumerate(sheet_names, 1):
        def with_value(m: re.Match, sheet: str = sheet) -> str:
            value = results.get((sheet, m.group(1)))
            if value is None:
                return m.group(0)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return f'<c r="{m.group(1)}"{m.group(2)}><f>{m.group(3)}</f><v>{value:.15g}</v></c>'
            text = str(value).replace("&", "&amp;").replace("<", "&lt;")
            return f'<c r="{m.group(1)}"{m.group(2)} t="str"><f>{m.group(3)}</f><v>{text}</v></c>'
        name = f"xl/worksheets/sheet{n}.xml"
        entries[name] = cell.sub(with_value, entries[name].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)


def _set_thai_font(style_or_run_element, name: str) -> None:
    from docx.oxml.ns import qn
    rpr = style_or_run_element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = rpr.makeelement(qn("w:rFonts"), {})
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), name)
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = rpr.makeelement(qn("w:lang"), {})
        rpr.append(lang)
    lang.set(qn("w:bidi"), "th-TH")


def render_docx(doc: Doc, path: Path) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    d = Document()
    font = doc.meta.get("docx_font", "TH SarabunPSK")
    for sname in ("Normal", "Heading 1", "Heading 2", "Heading 3", "Title", "List Bullet", "List Number"):
        st = d.styles[sname]
        _set_thai_font(st.element, font)
        st.font.color.rgb = RGBColor(0, 0, 0)
    d.styles["Normal"].font.size = Pt(16)
    # complex-script size is what Word uses for Thai
    szcs = d.styles["Normal"].element.get_or_add_rPr()
    el = szcs.makeelement(qn("w:szCs"), {qn("w:val"): "32"})
    szcs.append(el)
    for lvl, size in ((1, 20), (2, 18), (3, 16)):
        d.styles[f"Heading {lvl}"].font.size = Pt(size)
    align = {"L": WD_ALIGN_PARAGRAPH.LEFT, "C": WD_ALIGN_PARAGRAPH.CENTER, "R": WD_ALIGN_PARAGRAPH.RIGHT}
    for b in doc.blocks:
        if b.kind == "h":
            d.add_heading(b.text, level=min(b.level, 3))
        elif b.kind == "p":
            p = d.add_paragraph(b.text)
            p.alignment = align[b.align]
        elif b.kind == "ul":
            for it in b.items:
                d.add_paragraph(it, style="List Bullet")
        elif b.kind == "ol":
            for it in b.items:
                d.add_paragraph(it, style="List Number")
        elif b.kind == "table":
            t = d.add_table(rows=1 + len(b.rows), cols=len(b.header))
            t.style = "Table Grid"
            for c, h in enumerate(b.header):
                cell = t.rows[0].cells[c]
                cell.text = ""
                cell.paragraphs[0].add_run(h).bold = True
            for ri, row in enumerate(b.rows, 1):
                for c, v in enumerate(row):
                    t.rows[ri].cells[c].text = v
            d.add_paragraph("")
    cp = d.core_properties
    cp.title = doc.meta["title"]
    cp.author = AGENCY
    cp.last_modified_by = AGENCY
    cp.created = doc.when
    cp.modified = doc.when
    cp.revision = 1
    cp.language = "th-TH"
    cp.comments = ""
    cp.keywords = ""
    d.save(path)
    normalize_zip(path, doc.when)


# --- PDF -------------------------------------------------------------------------------

_COMBINING = re.compile(r"[\u0E31\u0E34-\u0E3A\u0E47-\u0E4E]")


def _thai_tokens(text: str) -> list[str]:
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:  # still breaks at spaces, as fpdf2 would
        return re.split(r"(\s+)", text)
    return word_tokenize(text, engine="newmm", keep_whitespace=True)


def wrap_thai(pdf, text: str, width: float) -> list[str]:
    """Greedy line breaking at Thai word boundaries (fpdf2 only breaks at spaces)."""
    lines: list[str] = []
    cur = ""
    for tok in _thai_tokens(text):
        if pdf.get_string_width(cur + tok) <= width:
            cur += tok
            continue
        if cur.strip():
            lines.append(cur.rstrip())
        cur = tok.lstrip()
        while pdf.get_string_width(cur) > width:      # a single over-long token: split by cluster
            cut = len(cur)
            while cut > 1 and (pdf.get_string_width(cur[:cut]) > width or _COMBINING.match(cur[cut:cut + 1] or "x")):
                cut -= 1
            lines.append(cur[:cut])
            cur = cur[cut:]
    if cur.strip():
        lines.append(cur.rstrip())
    return lines or [""]


def table_widths(pdf, rows: list[list[str]], width: float, pad: float = 4.0) -> list[float]:
    """Column widths: every column gets at least its longest word, the rest goes where text is long."""
    ncol = len(rows[0])
    low = [max(max((pdf.get_string_width(t) for t in _thai_tokens(r[c]) if t.strip()), default=0) for r in rows) + pad
           for c in range(ncol)]
    want = [max(pdf.get_string_width(r[c]) for r in rows) + pad for c in range(ncol)]
    if sum(want) <= width:
        return [w * width / sum(want) for w in want]
    if sum(low) >= width:
        return [w * width / sum(low) for w in low]
    spare = width - sum(low)
    need = [w - lo for w, lo in zip(want, low)]
    weight = [n ** 0.5 for n in need]   # square root: long cells get more room, short ones are not starved
    return [lo + spare * wt / sum(weight) for lo, wt in zip(low, weight)]


def render_pdf(doc: Doc, path: Path) -> None:
    from fpdf import FPDF

    font = doc.meta.get("pdf_font", "Garuda")
    shaping = doc.meta.get("pdf_shaping", True)
    size = float(doc.meta.get("pdf_size", 12 if font in ("Garuda", "Loma") else 15))

    class PDF(FPDF):
        def footer(self):
            self.set_y(-14)
            self.set_font(font, size=size - 3)
            self.cell(0, 8, f"- {self.page_no()} -", align="C")

    pdf = PDF(format="A4")
    pdf.set_margins(22, 20, 20)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_font(font, fname=str(FONT_DIR / f"{font}.ttf"))
    pdf.add_font(font, style="B", fname=str(FONT_DIR / f"{font}-Bold.ttf"))
    if shaping:
        try:
            import uharfbuzz  # noqa: F401
            pdf.set_text_shaping(True)
        except ImportError:
            shaping = False
    pdf.set_creation_date(doc.when)
    pdf.set_title(doc.meta["title"])
    pdf.set_author(AGENCY)
    pdf.set_creator("scripts/build_corpus.py")
    pdf.set_lang("th")
    pdf.add_page()
    lh = size * 0.55
    width = pdf.epw

    # With shaping, HarfBuzz draws sara am (ำ) as two glyphs and fpdf2 writes no ToUnicode entry
    # for the second one, so extractors print a stray control or ASCII character after every ำ.
    # Writing the decomposed form (nikhahit + sara aa) looks identical on the page and extracts as
    # "ํา", the split form that real Thai PDFs often carry and that textmodel.thai.normalize joins again.
    split_am = shaping and doc.meta.get("pdf_split_sara_am", True)

    def out(text: str) -> str:
        return text.replace("\u0e33", "\u0e4d\u0e32") if split_am else text

    def para(text: str, align: str = "L", bold: bool = False, fsize: float = size, indent: float = 0.0):
        pdf.set_font(font, style="B" if bold else "", size=fsize)
        for ln in wrap_thai(pdf, text, width - indent):
            pdf.set_x(pdf.l_margin + indent)
            pdf.cell(width - indent, fsize * 0.55, out(ln), align=align, new_x="LMARGIN", new_y="NEXT")

    for b in doc.blocks:
        if b.kind == "h":
            pdf.ln(2)
            para(b.text, align="C" if b.level == 1 else "L", bold=True, fsize=size + {1: 4, 2: 2}.get(b.level, 0))
            pdf.ln(1)
        elif b.kind == "p":
            para(b.text, align=b.align)
            pdf.ln(1.5)
        elif b.kind in ("ul", "ol"):
            for n, it in enumerate(b.items, 1):
                mark = "•" if b.kind == "ul" else f"{n}."
                pdf.set_font(font, size=size)
                y = pdf.get_y()
                pdf.set_x(pdf.l_margin + 4)
                pdf.cell(6, lh, mark)
                pdf.set_y(y)
                para(it, indent=10)
            pdf.ln(1.5)
        elif b.kind == "table":
            pdf.set_font(font, size=size - 1)
            widths = table_widths(pdf, [b.header, *b.rows], width)
            wrapped = [[out("\n".join(wrap_thai(pdf, cell, widths[c] - 3))) for c, cell in enumerate(r)]
                       for r in [b.header, *b.rows]]
            with pdf.table(col_widths=widths, width=width, line_height=(size - 1) * 0.55,
                           text_align="LEFT", first_row_as_headings=True) as table:
                for r in wrapped:
                    row = table.row()
                    for cell in r:
                        row.cell(cell)
            pdf.ln(3)
    pdf.output(str(path))


RENDERERS = {"md": render_md, "txt": render_txt, "html": render_html, "csv": render_csv,
             "xlsx": render_xlsx, "docx": render_docx, "pdf": render_pdf}


# --------------------------------------------------------------------------- labels & checks

def match_form(s: str) -> str:
    s = unicodedata.normalize("NFC", s).translate(THAI_DIGITS).lower()
    return re.sub(r"\s+", " ", s)


def load_expect(src: Path) -> tuple[dict[str, list[str]], list[str]]:
    data = yaml.safe_load((src / "_drafts-expect.yaml").read_text(encoding="utf-8"))
    expect = {str(k): list(v) for k, v in data["expect"].items()}
    for code, terms in expect.items():
        bad = [t for t in terms if not isinstance(t, str)]
        if bad:  # YAML reads 76.80 as 76.8: numbers must be quoted
            raise SystemExit(f"_drafts-expect.yaml {code}: quote the numeric terms {bad}")
    return expect, [str(c) for c in data["no_evidence"]]


def check(docs: list[Doc], expect: dict[str, list[str]], no_evidence: list[str]) -> list[str]:
    errors: list[str] = []
    names = [d.file for d in docs]
    if len(set(names)) != len(names):
        errors.append("duplicate target file names")
    for d in docs:
        if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", d.file):
            errors.append(f"{d.file}: file name must be lower-case ASCII")
        if d.fmt not in FORMATS or not d.file.endswith("." + d.fmt):
            errors.append(f"{d.file}: format {d.fmt} does not match the extension")
        for code, grade in d.criteria.items():
            if code not in ALL_CODES:
                errors.append(f"{d.file}: unknown criterion {code}")
            if grade not in (1, 2):
                errors.append(f"{d.file}: grade {grade} for {code}")
        if d.distractor and d.criteria:
            errors.append(f"{d.file}: a distractor must support no criterion")
        if not d.distractor and not d.criteria:
            errors.append(f"{d.file}: supports no criterion but is not marked distractor")
        if d.meta.get("encoding") and d.fmt in ("txt", "csv"):
            try:
                (d.body or d.plain_text()).encode(d.meta["encoding"])
            except UnicodeEncodeError as e:
                errors.append(f"{d.file}: not encodable as {d.meta['encoding']}: {e}")
    labelled = {c for d in docs for c in d.criteria}
    for c in ALL_CODES:
        if (c in expect) == (c in no_evidence):
            errors.append(f"{c}: must be in exactly one of expect / no_evidence")
    for c in labelled - set(expect):
        errors.append(f"{c}: labelled in qrels but has no expected terms")
    for c in set(expect) - labelled:
        errors.append(f"{c}: has expected terms but no labelled document")
    for c in set(no_evidence) & labelled:
        errors.append(f"{c}: listed without evidence but a document is labelled for it")
    texts = {d.file: match_form(d.plain_text()) for d in docs}
    for code, terms in expect.items():
        if not 3 <= len(terms) <= 6:
            errors.append(f"{code}: {len(terms)} expected terms (want 3-6)")
        support = [d.file for d in docs if code in d.criteria]
        for t in terms:
            if not any(match_form(t) in texts[f] for f in support):
                errors.append(f"{code}: term {t!r} is in none of its documents {support}")
    return errors


def form_overlap(docs: list[Doc], n: int = 30, report: int = 45) -> list[str]:
    """Long verbatim runs shared with the real form (the texts must be our own sentences)."""
    form = next((p for p in FORM_CANDIDATES if p.exists()), None)
    if form is None:
        return ["(form not found: overlap check skipped)"]
    squash = lambda s: re.sub(r"<[^>]+>|\s+", "", s)  # noqa: E731
    ftext = squash(form.read_text(encoding="utf-8"))
    grams = {ftext[i:i + n] for i in range(len(ftext) - n + 1)}
    out = []
    for d in docs:
        t = squash(d.plain_text())
        i, runs = 0, []
        while i <= len(t) - n:
            if t[i:i + n] in grams:
                j = i
                while j <= len(t) - n and t[j:j + n] in grams:
                    j += 1
                runs.append(t[i:j + n - 1])
                i = j + n - 1
            else:
                i += 1
        for r in runs:
            if len(r) >= report:
                out.append(f"{d.file}: shares {len(r)} chars with the form: {r[:80]}…")
    return out


def rendered_text(path: Path, doc: Doc) -> str:
    """Text as a plain extractor sees the rendered file (used to check the expected terms survive)."""
    if doc.fmt == "pdf":
        from pypdf import PdfReader
        return "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)
    if doc.fmt == "docx":
        from docx import Document
        d = Document(path)
        cells = [c.text for t in d.tables for r in t.rows for c in r.cells]
        return "\n".join([p.text for p in d.paragraphs] + cells)
    if doc.fmt == "xlsx":
        from openpyxl import load_workbook
        wb = load_workbook(path)
        return "\n".join(" ".join(str(c.value) for c in row if c.value is not None)
                         for ws in wb.worksheets for row in ws.iter_rows())
    raw = path.read_bytes().decode(doc.meta.get("encoding", "utf-8"))
    return re.sub(r"<[^>]+>", " ", raw) if doc.fmt == "html" else raw


def loose_form(s: str) -> str:
    """match_form plus the repairs any Thai PDF pipeline needs (split sara am, line breaks)."""
    s = unicodedata.normalize("NFC", s).replace("\u0e4d\u0e32", "\u0e33")
    s = re.sub(r"(?<=[\u0E00-\u0E7F])\s*\n\s*(?=[\u0E00-\u0E7F])", "", s)
    return match_form(s)


def check_rendered(docs: list[Doc], expect: dict[str, list[str]], out: Path) -> list[str]:
    texts = {d.file: loose_form(rendered_text(out / d.file, d)) for d in docs}
    missing = []
    for code, terms in expect.items():
        support = [d.file for d in docs if code in d.criteria]
        for t in terms:
            if not any(loose_form(t) in texts[f] for f in support):
                missing.append(f"{code}: term {t!r} not found in the rendered {support}")
    return missing


def thai_word_count(text: str) -> int:
    try:
        from pythainlp.tokenize import word_tokenize
    except ImportError:
        return len(text.split())
    return sum(1 for t in word_tokenize(text, engine="newmm") if re.search(r"\w", t))


def write_labels(docs: list[Doc], expect: dict[str, list[str]], no_evidence: list[str], out: Path) -> int:
    lines = [
        "# Relevance labels for the sample corpus (development set), one line per (criterion, document).",
        "# Format: code<TAB>file_name<TAB>grade, file_name relative to corpus/.",
        "# grade 2 = the document is direct evidence for the criterion; 1 = partial or related evidence.",
        "# Criteria with no line here have no evidence in the corpus (see drafts-expect.tsv).",
        "# Distractor documents have no lines. Generated by scripts/build_corpus.py from the sources' front matter.",
    ]
    rows = sorted(((c, d.file, g) for d in docs for c, g in d.criteria.items()),
                  key=lambda x: (code_key(x[0]), -x[2], x[1]))
    lines += [f"{c}\t{f}\t{g}" for c, f, g in rows]
    (out / "qrels.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    el = [
        "# Expected key terms of a good narrative draft per criterion, drafted from this corpus only.",
        "# Format: code<TAB>term1|term2|... Terms are written as they appear in the documents",
        "# (match after normalising Thai digits and whitespace). An empty list means the corpus holds",
        "# no evidence for that criterion and the right draft abstains.",
        "# Generated by scripts/build_corpus.py from scripts/corpus_src/_drafts-expect.yaml.",
    ]
    for c in ALL_CODES:
        el.append(f"{c}\t" + "|".join(expect.get(c, [])))
    (out / "drafts-expect.tsv").write_text("\n".join(el) + "\n", encoding="utf-8")
    return len(rows)


def write_docs_md(docs: list[Doc], no_evidence: list[str], words: dict[str, int], n_qrels: int) -> None:
    intro = (SRC / "_corpus-doc.md").read_text(encoding="utf-8").rstrip() + "\n"
    real = [d for d in docs if not d.distractor]
    grade2 = {c for d in docs for c, g in d.criteria.items() if g == 2}
    only1 = {c for d in docs for c in d.criteria} - grade2
    out = [intro, "",
           f"Counts: {len(real)} supporting documents + {len(docs) - len(real)} distractors = {len(docs)} files; "
           f"{len(grade2 | only1)} labelled criteria ({len(grade2)} with at least one grade-2 document, "
           f"{len(only1)} with grade 1 only); {n_qrels} qrels lines; {len(no_evidence)} criteria without evidence.",
           "", "## Documents", "",
           "Criteria: grade 2 first, grade-1 codes in parentheses. Words: pythainlp `newmm` tokens.", "",
           "| file | kind | format | fiscal year (พ.ศ.) | criteria supported | words |",
           "| --- | --- | --- | --- | --- | --- |"]
    for d in sorted(real, key=lambda d: d.file):
        g2 = sorted((c for c, g in d.criteria.items() if g == 2), key=code_key)
        g1 = sorted((c for c, g in d.criteria.items() if g == 1), key=code_key)
        crit = (", ".join(g2) or "—") + (f" ({', '.join(g1)})" if g1 else "")
        fmt = d.fmt + (f", {d.meta['encoding']}" if d.meta.get("encoding") else "")
        out.append(f"| `{d.file}` | {d.meta['kind']} | {fmt} | {d.meta['fiscal_year']} | {crit} | {words[d.file]} |")
    out += ["", "## Criteria without evidence", "",
            "The right draft for these abstains; some share vocabulary with documents on purpose.", ""]
    reasons = yaml.safe_load((SRC / "_drafts-expect.yaml").read_text(encoding="utf-8")).get("no_evidence_why", {})
    for c in sorted(no_evidence, key=code_key):
        out.append(f"- **{c}** — {reasons.get(c, '')}".rstrip(" —"))
    if only1:
        out += ["", "## Criteria with partial evidence only", ""]
        for c in sorted(only1, key=code_key):
            fs = [d.file for d in docs if c in d.criteria]
            out.append(f"- **{c}** — grade 1 in " + ", ".join(f"`{f}`" for f in fs))
    out += ["", "## Distractors", "", "They share vocabulary with the evidence but support no criterion.", "",
            "| file | format | what it is |", "| --- | --- | --- |"]
    for d in sorted((d for d in docs if d.distractor), key=lambda d: d.file):
        out.append(f"| `{d.file}` | {d.fmt} | {d.meta['kind']} |")
    DOCS_MD.write_text("\n".join(out) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=SRC)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="validate sources and labels, render nothing")
    ap.add_argument("--only", help="render only this target file name (no labels, no docs)")
    ap.add_argument("--verbose", action="store_true", help="list the passages shared verbatim with the form")
    args = ap.parse_args(argv)

    docs = load_sources(args.src)
    expect, no_evidence = load_expect(args.src)
    errors = check(docs, expect, no_evidence)
    for e in errors:
        print("ERROR", e, file=sys.stderr)
    overlaps = form_overlap(docs)
    if args.verbose:
        for w in overlaps:
            print("NOTE", w, file=sys.stderr)
    elif overlaps:
        print(f"NOTE {len(overlaps)} verbatim runs of 45+ characters shared with the form "
              "(names of systems, plans and strategies); --verbose lists them", file=sys.stderr)
    if errors:
        return 1
    words = {d.file: thai_word_count(d.plain_text()) for d in docs}
    if args.check:
        for d in docs:
            print(f"{d.file:48s} {words[d.file]:5d} words")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    targets = [d for d in docs if not args.only or d.file == args.only]
    for d in targets:
        RENDERERS[d.fmt](d, args.out / d.file)
        print(f"wrote {d.file} ({words[d.file]} words)")
    if args.only:
        return 0
    keep = {d.file for d in docs} | {"qrels.tsv", "drafts-expect.tsv"}
    for p in args.out.iterdir():
        if p.is_file() and p.name not in keep:
            print(f"removed stale {p.name}")
            p.unlink()
    for w in check_rendered(docs, expect, args.out):
        print("WARN", w, file=sys.stderr)
    n_qrels = write_labels(docs, expect, no_evidence, args.out)
    write_docs_md(docs, no_evidence, words, n_qrels)
    print(f"{len(docs)} documents, {n_qrels} qrels lines, {len(no_evidence)} criteria without evidence")
    return 0


if __name__ == "__main__":
    sys.exit(main())
