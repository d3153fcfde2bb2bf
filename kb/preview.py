"""Source preview: what a citation points to, shown as it stands in its file.

For a PDF the cited page is rendered (pypdfium2) with the passage's lines marked, found by
matching the stored chunk text to the page's text layer (pdfplumber character boxes). For a
sheet (XLSX, CSV) the cited rows come with the header and the rows around them, from the
stored chunks. For anything else the passage comes with the chunks before and after it.
Everything is looked up by chunk id in the docstore: a file is only ever opened through the
path the store recorded for it.

No web code here: the API, the web app and `kb show` all render these records.
"""
from __future__ import annotations

import difflib
import io
import mimetypes
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from textmodel import thai
from kb.retrieve import Hit
from kb.review import NotFound
from kb.store import Store

SHEET_TYPES = {"xlsx", "csv"}
# rows shown above and below the cited ones, and chunks before and after a passage
CONTEXT_ROWS = 3
CONTEXT_CHUNKS = 1
# a highlight needs this share of the passage's letters found on the page, in order
MIN_COVERAGE = 0.6
HIGHLIGHT_RGBA = (255, 213, 0, 96)        # yellow marker, see-through so the text stays legible
HIGHLIGHT_EDGE = (214, 150, 0, 200)

MESSAGES = {
    "found": "แถบสีเหลืองคือข้อความที่อ้างอิงบนหน้านี้",
    "partial": "แถบสีเหลืองคือส่วนของข้อความที่อ้างอิงที่พบบนหน้านี้ (ข้อความในไฟล์ต่างจากที่จัดเก็บบางส่วน)",
    "not_found": "หาตำแหน่งของข้อความที่อ้างอิงบนหน้านี้ไม่พบ จึงแสดงทั้งหน้าโดยไม่ทำแถบสี",
    "ocr": "หน้านี้เป็นภาพสแกน ข้อความได้จากการรู้จำอักษร (OCR) จึงยังระบุตำแหน่งบนภาพไม่ได้ แสดงทั้งหน้าโดยไม่ทำแถบสี",
    "off": "แสดงทั้งหน้าโดยไม่ทำแถบสี",
    "no_file": "ไม่พบไฟล์ต้นฉบับในที่จัดเก็บแล้ว แสดงได้เฉพาะข้อความที่จัดเก็บไว้",
}


class PreviewNotFound(NotFound):
    """No such chunk or document (the message is Thai, for people). A NotFound, so the web app's
    error handler answers 404 with the message, as JSON for the API and as a notice for htmx."""


@dataclass
class Passage:
    chunk_id: str
    ordinal: int
    text: str
    where: str


@dataclass
class SheetRow:
    number: int | None          # the sheet row (XLSX) or file line (CSV)
    cells: list[str]
    cited: bool


@dataclass
class Preview:
    chunk_id: str
    doc_id: str
    file_name: str
    title: str
    doc_type: str
    kind: str                   # "pdf", "sheet" or "text"
    where: str
    text: str
    page: int | None
    sheet: str | None
    rows: tuple[int, int] | None
    heading: str | None
    origin: str
    fiscal_year: int | None
    file_available: bool
    before: list[Passage] = field(default_factory=list)
    after: list[Passage] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    table: list[SheetRow] = field(default_factory=list)
    note: str = ""              # what the page image can show (Thai)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rows"] = list(self.rows) if self.rows else None
        return d


@dataclass
class PageImage:
    png: bytes
    width: int
    height: int
    boxes: list[tuple[float, float, float, float]]   # marked rectangles, in image pixels
    status: str                 # found, partial, not_found, ocr or off (a key of MESSAGES)

    @property
    def message(self) -> str:
        return MESSAGES[self.status]


# --- lookups --------------------------------------------------------------------------------------

def _row(store: Store, chunk_id: str):
    row = store.chunk_rows([chunk_id]).get(chunk_id)
    if row is None:
        raise PreviewNotFound(f"ไม่พบข้อความอ้างอิงรหัส {chunk_id} ในคลังเอกสาร (เอกสารอาจถูกลบหรือนำเข้าใหม่)")
    return row


def _hit(row) -> Hit:
    return Hit(chunk_id=row["chunk_id"], score=0.0, text=row["text"], file_name=row["file_name"],
               path=row["path"], title=row["title"], page=row["page"], sheet=row["sheet"],
               rows=(row["row_start"], row["row_end"]) if row["row_start"] is not None else None,
               heading=row["heading"], table=row["table_no"], origin=row["origin"],
               fiscal_year=row["fiscal_year"], doc_type=row["doc_type"])


def _document_chunks(store: Store, doc_id: str, first: int, last: int):
    return store.db.execute(
        "SELECT c.*, d.path, d.file_name, d.title, d.fiscal_year, d.doc_type FROM chunks c "
        "JOIN documents d USING (doc_id) WHERE c.doc_id = ? AND c.ordinal BETWEEN ? AND ? "
        "ORDER BY c.ordinal", (doc_id, first, last)).fetchall()


def _file(store: Store, doc_id: str) -> Path | None:
    """The file whose text the store holds for a document (not a newer one of the same name
    whose ingest is pending or failed). The path is the one the store recorded, never one a
    caller names."""
    row = store.db.execute("SELECT path, sha256 FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
    return store.original(row["path"], row["sha256"]) if row is not None else None


def original_file(store: Store, doc_id: str) -> tuple[Path, str, str]:
    """(path on disk, file name, media type) of a stored document."""
    row = store.db.execute("SELECT file_name FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
    if row is None:
        raise PreviewNotFound(f"ไม่พบเอกสารรหัส {doc_id} ในคลังเอกสาร")
    path = _file(store, doc_id)
    if not path.is_file():
        raise PreviewNotFound(f"ไม่พบไฟล์ต้นฉบับของ {row['file_name']} ในที่จัดเก็บแล้ว")
    media = mimetypes.guess_type(row["file_name"])[0] or "application/octet-stream"
    return path, row["file_name"], media


def preview(store: Store, chunk_id: str, context: int = CONTEXT_CHUNKS) -> Preview:
    """The passage of `chunk_id` with what surrounds it in its document."""
    row = _row(store, chunk_id)
    hit = _hit(row)
    doc_type = (row["doc_type"] or "").lower()
    kind = "pdf" if doc_type == "pdf" and row["page"] else "sheet" if doc_type in SHEET_TYPES else "text"
    p = Preview(chunk_id=chunk_id, doc_id=row["doc_id"], file_name=row["file_name"], title=row["title"],
                doc_type=doc_type, kind=kind, where=hit.where(), text=row["text"], page=row["page"],
                sheet=row["sheet"], rows=hit.rows, heading=row["heading"], origin=row["origin"],
                fiscal_year=row["fiscal_year"], file_available=_file(store, row["doc_id"]).is_file())
    ordinal = row["ordinal"]
    around = _document_chunks(store, row["doc_id"], ordinal - context, ordinal + context)
    to_passage = lambda r: Passage(r["chunk_id"], r["ordinal"], r["text"], _hit(r).where())  # noqa: E731
    p.before = [to_passage(r) for r in around if r["ordinal"] < ordinal]
    p.after = [to_passage(r) for r in around if r["ordinal"] > ordinal]
    if kind == "sheet":
        p.header, p.table = _sheet_rows(row, around)
    if kind == "pdf":
        p.note = MESSAGES["ocr"] if row["origin"] == "ocr" else ""
    if not p.file_available:
        p.note = MESSAGES["no_file"]
    return p


def for_source(store: Store, chunk_id: str | None, passage: str) -> Preview | None:
    """The preview of a draft's source, or None when it cannot show what the draft cited: the
    chunk is gone, or its document was ingested again and the chunk (which keeps its id: ids are
    the document's id and the chunk's position) now holds other text. The passage copied into
    the draft is then the only faithful record of what was cited."""
    if not chunk_id:
        return None
    try:
        p = preview(store, chunk_id)
    except PreviewNotFound:
        return None
    return p if " ".join(p.text.split()) == " ".join((passage or "").split()) else None


# --- sheets ---------------------------------------------------------------------------------------

def _cells(line: str) -> list[tuple[str, str]]:
    """A stored table line is "header: value | header: value" (ingest/tables.py)."""
    out = []
    for part in line.split(" | "):
        name, sep, value = part.partition(": ")
        out.append((name.strip(), value.strip()) if sep else ("", part.strip()))
    return out


def _lines_with_rows(r) -> list[tuple[int | None, str]]:
    lines = [ln for ln in r["text"].splitlines() if ln.strip()]
    first, last = r["row_start"], r["row_end"]
    # line i is data row first+i when the chunk holds one line per row, as table chunks do
    if first is not None and last is not None and last - first + 1 == len(lines):
        return [(first + i, ln) for i, ln in enumerate(lines)]
    return [(None, ln) for ln in lines]


def _sheet_rows(row, around) -> tuple[list[str], list[SheetRow]]:
    rows: list[tuple[int | None, list[tuple[str, str]], bool]] = []
    for r in around:
        if r["sheet"] != row["sheet"]:
            continue                      # neighbours on another sheet are not this table's rows
        lines = _lines_with_rows(r)
        if r["ordinal"] < row["ordinal"]:
            lines = lines[-CONTEXT_ROWS:]
        elif r["ordinal"] > row["ordinal"]:
            lines = lines[:CONTEXT_ROWS]
        rows += [(n, _cells(ln), r["chunk_id"] == row["chunk_id"]) for n, ln in lines]
    header: list[str] = []
    for _, cells, _ in rows:
        for name, _ in cells:
            if name and name not in header:
                header.append(name)
    table = []
    for n, cells, cited in rows:
        named = {name: value for name, value in cells if name}
        values = [named.get(h, "") for h in header] if header and named else [v for _, v in cells]
        table.append(SheetRow(n, values, cited))
    return header, table


# --- PDF pages ------------------------------------------------------------------------------------

def _on_page(row) -> str:
    """The text of a chunk as its page shows it: a PDF table's rows are stored "header: value | …"
    (ingest/pdftables.py), and the page prints the header once, above, so only the values are
    looked for."""
    if not row["table_no"]:
        return row["text"]
    return "\n".join(" ".join(v for _, v in _cells(line) if v) for line in row["text"].splitlines())


# Thai marks above and below the line, which PDFs and our normalisation order differently
_MARKS = {chr(c) for c in (0x0E31, *range(0x0E34, 0x0E3B), *range(0x0E47, 0x0E4F))}


def _skeleton(ch: str) -> str:
    """The letters of one character that matching compares: the same for the page's text layer
    and for the stored (normalised, repaired) chunk text, whatever spaces, line breaks, mark
    order, split sara am, legacy glyphs, Thai digits or table separators came between."""
    ch = thai.normalize(ch) if ch.strip() else ""
    out = []
    for c in thai.to_arabic_digits(ch).lower():
        if c == "\u0e33":             # ำ, which PDFs often hold as ํ + า
            c = "\u0e32"
        if c in _MARKS or not c.isalnum():
            continue
        out.append(c)
    return "".join(out)


@dataclass
class _Char:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float


def _page_chars(path: Path, page_no: int) -> tuple[list[_Char], float, float] | None:
    """The characters of a page with their boxes (pdfplumber: each box spans the font's height,
    so a line's letters and the marks above and below them share one band; pdfium's own boxes
    hug each glyph and split a Thai line into several). None when the text layer cannot be read:
    the page is then shown unmarked rather than not at all."""
    import pdfplumber
    try:
        with pdfplumber.open(path) as pdf:
            page = pdf.pages[page_no - 1]
            # boxes relative to the page's visible area, which is what pdfium renders
            x_off, y_off = page.bbox[0], page.bbox[1]
            chars = [_Char(c["text"], c["x0"] - x_off, c["top"] - y_off, c["x1"] - x_off, c["bottom"] - y_off)
                     for c in page.chars]
            return chars, float(page.width), float(page.height)
    except Exception:                     # pdfminer raises many kinds on a damaged file
        return None


def match_chars(chars: list[_Char], passage: str) -> tuple[list[int], float]:
    """Indexes of the page characters that spell the passage, and the share of the passage's
    letters found. An exact run is taken when there is one; else the in-order matching blocks
    (difflib) of at least four letters."""
    page_sk, owner = [], []
    for i, ch in enumerate(chars):
        for c in _skeleton(ch.text):
            page_sk.append(c)
            owner.append(i)
    want = "".join(_skeleton(c) for c in passage)
    if not want or not page_sk:
        return [], 0.0
    page_s = "".join(page_sk)
    at = page_s.find(want)
    if at >= 0:
        return _with_marks(chars, {owner[j] for j in range(at, at + len(want))}), 1.0
    sm = difflib.SequenceMatcher(None, page_s, want, autojunk=False)
    blocks = [b for b in sm.get_matching_blocks() if b.size >= 4]
    found = sum(b.size for b in blocks)
    return _with_marks(chars, {owner[j] for b in blocks for j in range(b.a, b.a + b.size)}), found / len(want)


def _with_marks(chars: list[_Char], matched: set[int]) -> list[int]:
    """The matched letters and the marks (tone marks, upper and lower vowels) that follow them:
    matching skips marks, but their boxes reach above and below the line, and belong marked."""
    out, last_letter_matched = [], False
    for i, ch in enumerate(chars):
        if _skeleton(ch.text):
            last_letter_matched = i in matched
            if last_letter_matched:
                out.append(i)
        elif last_letter_matched and ch.text.strip():
            out.append(i)
    return out


def line_boxes(chars: list[_Char], indexes: list[int]) -> list[tuple[float, float, float, float]]:
    """One rectangle per text line over the matched characters (page points, top-left origin)."""
    lines: list[list[_Char]] = []
    for i in indexes:
        c = chars[i]
        if c.x1 <= c.x0 or c.bottom <= c.top:
            continue                      # generated spaces and line breaks have no box
        mid = (c.top + c.bottom) / 2
        for line in lines:
            top, bottom = min(x.top for x in line), max(x.bottom for x in line)
            if top <= mid <= bottom:
                line.append(c)
                break
        else:
            lines.append([c])
    return [(min(c.x0 for c in ln), min(c.top for c in ln), max(c.x1 for c in ln), max(c.bottom for c in ln))
            for ln in lines]


def page_image(store: Store, chunk_id: str, scale: float = 1.5, highlight: bool = True) -> PageImage:
    """The cited page of a PDF chunk as PNG, the passage's lines marked when they can be found."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw

    row = _row(store, chunk_id)
    if (row["doc_type"] or "").lower() != "pdf" or not row["page"]:
        raise PreviewNotFound(f"ข้อความอ้างอิง {chunk_id} ไม่ได้มาจากหน้าของไฟล์ PDF จึงไม่มีภาพหน้า")
    path = _file(store, row["doc_id"])
    if not path.is_file():
        raise PreviewNotFound(f"ไม่พบไฟล์ต้นฉบับของ {row['file_name']} ในที่จัดเก็บแล้ว")
    scale = min(max(scale, 0.5), 3.0)
    pdf = pdfium.PdfDocument(str(path))
    try:
        if row["page"] > len(pdf):
            raise PreviewNotFound(f"ไฟล์ {row['file_name']} ไม่มีหน้า {row['page']} แล้ว (ไฟล์อาจเปลี่ยนไป)")
        image = pdf[row["page"] - 1].render(scale=scale).to_pil().convert("RGBA")
        boxes, status = [], "ocr" if row["origin"] == "ocr" else "not_found"
        if highlight and row["origin"] != "ocr":
            chars, width, _ = _page_chars(path, row["page"]) or ([], 1.0, 1.0)
            indexes, coverage = match_chars(chars, _on_page(row))
            if coverage >= MIN_COVERAGE:
                status = "found" if coverage >= 0.95 else "partial"
                k = image.width / width          # points → pixels
                pad = 1.5 * k
                boxes = [(x0 * k - pad, top * k - pad, x1 * k + pad, bottom * k + pad)
                         for x0, top, x1, bottom in line_boxes(chars, indexes)]
        elif not highlight:
            status = "off"
        if boxes:
            overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
            draw = ImageDraw.Draw(overlay)
            for box in boxes:
                draw.rectangle(box, fill=HIGHLIGHT_RGBA, outline=HIGHLIGHT_EDGE)
            image = Image.alpha_composite(image, overlay)
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG", optimize=False)
        return PageImage(out.getvalue(), image.width, image.height, boxes, status)
    finally:
        pdf.close()


# --- citations people type (kb show) --------------------------------------------------------------

CHUNK_ID = re.compile(r"^[0-9a-f]{16}:\d+$")
_PLACE = re.compile(r"^(?:(หน้า|p)\s*(\d+)|(แถว|r)\s*(\d+)(?:\s*[–-]\s*\d+)?|(ชีต|sheet)\s*(.+)|"
                    r"(ตาราง|t)\s*(\d+)|(?:ช่วง|c)\s*(\d+))$", re.IGNORECASE)


def resolve(store: Store, citation: str) -> list[str]:
    """Chunk ids a citation names, in reading order. A citation is a chunk id (`<doc>:<n>`, as the
    preview and the JSON show it), or a file name with places as the app and the export print
    them: "รายงาน.pdf · หน้า 7", "คิว.xlsx · ชีต LED Queue · แถว 4", or with `#`: "รายงาน.pdf#p7",
    "คิว.xlsx#r4", "บันทึก.docx#c3" (the chunk numbered 3 in the file, from 0)."""
    citation = citation.strip()
    if CHUNK_ID.match(citation):
        return [citation] if store.chunk_rows([citation]) else []
    sep = " · " if " · " in citation else "#" if "#" in citation else None
    name, *places = [p.strip() for p in citation.split(sep)] if sep else [citation]
    rows = store.db.execute("SELECT c.* FROM chunks c JOIN documents d USING (doc_id) WHERE d.file_name = ? "
                            "ORDER BY c.ordinal", (name,)).fetchall()
    for place in places:
        if place.startswith("พ.ศ.") or place.startswith("หัวข้อ"):
            continue                      # printed beside a source, it does not narrow it down
        m = _PLACE.match(place)
        if not m:
            raise ValueError(f"อ่านตำแหน่ง “{place}” ไม่ออก (ใช้ เช่น หน้า 7, แถว 4, ชีต ชื่อชีต, ตาราง 2 หรือรหัสข้อความ)")
        if m.group(2):
            rows = [r for r in rows if r["page"] == int(m.group(2))]
        elif m.group(4):
            n = int(m.group(4))
            rows = [r for r in rows if r["row_start"] is not None and r["row_start"] <= n <= r["row_end"]]
        elif m.group(6):
            rows = [r for r in rows if (r["sheet"] or "") == m.group(6).strip()]
        elif m.group(8):
            rows = [r for r in rows if r["table_no"] == int(m.group(8))]
        else:
            rows = [r for r in rows if r["ordinal"] == int(m.group(9))]
    return [r["chunk_id"] for r in rows]
