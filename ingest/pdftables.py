"""Tables on the pages of a text PDF → rows of cells, and the page's text without them (issue 9).

A ruled table (every cell drawn with lines or boxes, as Word, LibreOffice and report generators
draw them) is found by pdfplumber from the page's ruling lines. Each cell's text is rebuilt here
from the page's characters, not taken from pdfplumber's `extract_text`: that sorts a line's
characters by their x position, and a Thai tone mark or upper vowel sits at (or left of) the end
of its letter, so it comes out before the letter or after the next one, with spaces inside the
word ("ความเส่ยี ง"). Here a mark stays with the letter it follows in the content stream, letters
are ordered left to right, lines top to bottom, and the cell is repaired as PDF text is
(`textmodel.thai.repair_pdf_text`). A cell wrapped over two lines is joined without a space
between two Thai letters (Thai wraps between words, which it writes without spaces) and with one
otherwise.

The page's paragraphs stay the text layer pypdf read (what a page without tables always gave),
minus the characters that belong to a table: the page's characters and pypdf's lines are both in
content-stream order, so each line is found in the stream and the table's part of it dropped. A
table is then not indexed twice, and the paragraphs above and below a table stay on either side.

A table continued on the next page without its header row (the first table there, nothing but a
running header or page number between, the same columns, a first row that does not look like a
header) carries the header of the table it continues, so its rows read "header: value" too.

Bad input costs one page, never the file: table finding on a page is stopped after
`Limits.max_ocr_page_seconds` (the per-page limit the OCR has, [KB_MAX_OCR_PAGE_SECONDS]) and, over
the whole file, after half of `Limits.max_seconds`; a page over the limit, or on which anything
fails, keeps its plain text layer, and a Thai warning names the file and the page.

Borderless tables (columns aligned by white space only) are not looked for: see docs/benchmarks.md,
"PDF tables", for what pdfplumber's text strategy found on plain paragraphs.
"""
from __future__ import annotations

import ctypes
import logging
import re
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.limits import Limits
from ingest.tables import Span, clean_cell, fold_header
from textmodel import thai

log = logging.getLogger(__name__)

# pdfplumber's "lines" strategy: the table's cells are the boxes its ruling lines make.
TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines",
                  "snap_tolerance": 3, "join_tolerance": 3, "intersection_tolerance": 3}
# A page needs this many drawing operators (lines, boxes) in its content to be worth the look:
# the cheapest table is one row of two boxes (the last row of a table run onto a new page).
MIN_RULES = 2
# Between a table at the foot of one page and its continuation at the head of the next: at most
# this many lines of text (a page number, a running header), each at most this many characters.
BETWEEN_LINES, BETWEEN_CHARS = 2, 60
COLUMN_TOLERANCE = 3.0        # points by which the column edges of a continuation may differ
CAPTION = re.compile(r"^(?:ตารางที่|ตาราง|table)\s*[0-9๐-๙]", re.IGNORECASE)
_CID = re.compile(r"^\(cid:\d+\)$")    # a glyph without a Unicode mapping (pdfminer's spelling)
_THAI_LETTER = re.compile(r"[\u0e01-\u0e5b]")


class TableTimeout(BaseException):
    """Raised inside table finding when its time is up. A BaseException, so that pdfminer's own
    `except Exception` blocks cannot swallow it."""


@dataclass
class Table:
    """One table on a page: cell text row by row (a header of several rows folded into one)."""
    number: int                              # 1-based, top to bottom on its page
    grid: list[list[str]]                    # row i is the table's row i + 1
    bbox: tuple[float, float, float, float]
    columns: list[float]                     # x of the column edges
    header: list[str] | None = None          # carried from the table this one continues
    caption: str | None = None               # "ตารางที่ 2 …" just above it (or above the table it continues)
    fonts: list[frozenset[str]] = field(default_factory=list)   # fonts of each row

    def numbered_rows(self) -> list[tuple[int, list[str]]]:
        """(row number, cells) as `ingest.tables.table_blocks` takes them; a carried header comes
        first as row 0, so every row of this page keeps its own number."""
        rows = list(enumerate(self.grid, start=1))
        return [(0, list(self.header)), *rows] if self.header else rows


@dataclass
class _Found:
    table: Table
    first: int          # stream positions of its first and last characters on the page
    last: int


# --- time limit -----------------------------------------------------------------------------------

@contextmanager
def time_limit(seconds: float):
    """Raise TableTimeout in this thread once `seconds` have passed (0: no limit).

    pdfminer and pdfplumber are pure Python, so an exception set for the thread (CPython's
    PyThreadState_SetAsyncExc) stops them at their next bytecode: the page costs at most the limit
    plus one C call (a stream's decompression, say), whichever thread the ingestion runs in."""
    if not seconds or seconds <= 0:
        yield
        return
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True}

    def fire():
        with lock:
            if state["active"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(TableTimeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:          # once released, fire() can no longer aim at this thread
            state["active"] = False
        timer.cancel()


# --- characters -----------------------------------------------------------------------------------

def _is_mark(ch: str) -> bool:
    return bool(ch) and unicodedata.category(ch[0]) == "Mn"


def _chars(page) -> list[dict]:
    """The page's characters in content-stream order, glyphs without a Unicode value left out."""
    return [c for c in page.chars if c.get("text") and not _CID.match(c["text"])]


def _inside(c: dict, box, pad: float = 1.0) -> bool:
    x, y = (c["x0"] + c["x1"]) / 2, (c["top"] + c["bottom"]) / 2
    return box[0] - pad <= x <= box[2] + pad and box[1] - pad <= y <= box[3] + pad


def _lines(chars: list[dict]) -> list[list[dict]]:
    """Characters grouped into text lines (a character belongs to the line whose band holds its
    middle; pdfplumber's boxes span the font's height, so marks share their letter's band),
    lines top to bottom, each in stream order."""
    lines: list[list[dict]] = []
    bands: list[list[float]] = []
    for c in chars:
        mid = (c["top"] + c["bottom"]) / 2
        for band, line in zip(bands, lines):
            if band[0] <= mid <= band[1]:
                line.append(c)
                break
        else:
            lines.append([c])
            bands.append([c["top"], c["bottom"]])
    order = sorted(range(len(lines)), key=lambda i: bands[i][0])
    return [lines[i] for i in order]


def line_text(line: list[dict]) -> str:
    """One line's text: clusters (a letter and the marks that follow it in the stream) ordered
    left to right; a space where the stream has one or where a gap is wider than a fifth of the
    font size."""
    clusters: list[list[dict]] = []
    for c in line:
        if clusters and _is_mark(c["text"]) and not clusters[-1][0]["text"].isspace():
            clusters[-1].append(c)
        else:
            clusters.append([c])
    clusters.sort(key=lambda cl: cl[0]["x0"])       # stable: ties keep the stream's order
    out, right = [], None
    for cl in clusters:
        base = cl[0]
        if right is not None and base["x0"] - right > 0.2 * float(base.get("size") or 10):
            out.append(" ")
        out.append("".join(c["text"] for c in cl))
        right = max(right or base["x1"], *(c["x1"] for c in cl))
    return "".join(out)


def cell_text(chars: list[dict]) -> str:
    """A cell's text from its characters, repaired and on one line."""
    text = ""
    for line in (line_text(ln).strip() for ln in _lines(chars)):
        if not line:
            continue
        if text and not (_THAI_LETTER.match(text[-1]) and _THAI_LETTER.match(line[0])):
            text += " "
        text += line
    return clean_cell(thai.repair_pdf_text(text))


# --- one page -------------------------------------------------------------------------------------

def _grid(found, chars: list[dict]) -> tuple[list[list[str]], list[float], list[frozenset[str]]]:
    """Cell text on a grid of the table's column and row edges. A cell spanning columns reads
    once, in its first column; one spanning rows reads in each of them (as merged cells of a
    sheet do), and a header of several rows is folded into one (ingest.tables.fold_header)."""
    cells = [c for c in found.cells if c]
    xs = sorted({round(v, 1) for c in cells for v in (c[0], c[2])})
    ys = sorted({round(v, 1) for c in cells for v in (c[1], c[3])})
    xs, ys = _merge_close(xs), _merge_close(ys)
    grid = [[""] * (len(xs) - 1) for _ in range(len(ys) - 1)]
    fonts: list[set[str]] = [set() for _ in range(len(ys) - 1)]
    spans = []
    for cell in cells:
        c0, c1 = _index(xs, cell[0]), _index(xs, cell[2])
        r0, r1 = _index(ys, cell[1]), _index(ys, cell[3])
        if c1 <= c0 or r1 <= r0:
            continue
        inside = [c for c in chars if _inside(c, cell, pad=0)]
        text = cell_text(inside)
        for r in range(r0, r1):
            grid[r][c0] = text
        fonts[r0] |= {c.get("fontname", "") for c in inside if not c["text"].isspace()}
        if r1 - r0 > 1 or c1 - c0 > 1:
            spans.append(Span(min_row=r0 + 1, min_col=c0 + 1, max_row=r1, max_col=c1))
    return fold_header(grid, spans), xs, [frozenset(f) for f in fonts]


def _merge_close(values: list[float], tol: float = 2.0) -> list[float]:
    out: list[float] = []
    for v in values:
        if not out or v - out[-1] > tol:
            out.append(v)
    return out


def _index(edges: list[float], v: float) -> int:
    return min(range(len(edges)), key=lambda i: abs(edges[i] - v))


def _rule_count(pypdf_page) -> int:
    """Drawing operators in the page's content (boxes `re`, line segments `l`), counted on the
    bytes without parsing; -1 when the page draws form XObjects, whose content is elsewhere."""
    try:
        data = pypdf_page.get_contents()
        data = data.get_data() if data is not None else b""
    except Exception:  # noqa: BLE001 - an unreadable stream: let pdfplumber have its say
        return -1
    if re.search(rb"\sDo\b", data):
        return -1
    return len(re.findall(rb"\s(?:re|l)\s", data))


def find_tables(page) -> list[Table]:
    """The ruled tables of a pdfplumber page, top to bottom; a "table" of one column (a framed
    paragraph, a box around a signature) is not one. A single row is kept (see _numbered): it
    may be the last row of the previous page's table."""
    chars = _chars(page)
    tables = []
    for found in page.find_tables(TABLE_SETTINGS):
        grid, columns, fonts = _grid(found, chars)
        rows = [r for r in grid if any(r)]
        if max((sum(map(bool, r)) for r in rows), default=0) < 2:
            continue
        tables.append(Table(0, grid, tuple(found.bbox), columns, fonts=fonts))
    tables.sort(key=lambda t: (round(t.bbox[1]), t.bbox[0]))
    return _numbered(tables)


def _numbered(tables: list[Table]) -> list[Table]:
    for n, t in enumerate(tables, start=1):
        t.number = n
    return tables


def _single_row(t: Table) -> bool:
    return sum(1 for r in t.grid if any(r)) < 2


def _skeleton(ch: str) -> str:
    """What stream matching compares of a character: letters and digits, Thai digits as Arabic,
    marks, spaces and punctuation left out (pypdf and pdfminer differ in those), ำ as า."""
    out = []
    for c in thai.to_arabic_digits(thai.normalize(ch) if ch.strip() else "").lower():
        if c == thai.SARA_AM:
            c = thai.SARA_AA
        if c.isalnum() and not _is_mark(c):
            out.append(c)
    return "".join(out)


def split_layer(text: str, chars: list[dict], boxes: list[tuple]) -> list[tuple[int, str]]:
    """The lines of pypdf's page text without the characters inside `boxes` (the tables), each
    with the stream position it was found at (-1 when it was not found: kept whole)."""
    owner, labels = [], []
    for i, c in enumerate(chars):
        label = next((k for k, b in enumerate(boxes) if _inside(c, b)), -1)
        for s in _skeleton(c["text"]):
            owner.append(i)
            labels.append(label)
    stream = "".join(_skeleton(c["text"]) for c in chars)
    out, cursor = [], 0
    # split on \n only: str.splitlines also splits at \x0b, which some producers emit after ำ
    for line in text.split("\n"):
        pieces = [(j, s) for j, ch in enumerate(line) for s in _skeleton(ch)]
        want = "".join(s for _, s in pieces)
        at = stream.find(want, cursor) if want else -1
        if at < 0 and want:
            at = stream.find(want)
        else:
            cursor = at + len(want) if at >= 0 else cursor
        if at < 0:
            if line.strip():
                out.append((-1, line))
            continue
        # each character of the line: in a table or not, as its letters are; the others
        # (spaces, punctuation, marks) go with the letter before them
        in_table = [False] * len(line)
        letter = {j: labels[at + k] >= 0 for k, (j, _) in enumerate(pieces)}
        state = letter[pieces[0][0]]
        for j in range(len(line)):
            state = letter.get(j, state)
            in_table[j] = state
        kept = "".join(ch for j, ch in enumerate(line) if not in_table[j]).strip()
        if kept:
            first_kept = next(j for j in range(len(line)) if not in_table[j] and line[j].strip())
            k = next((k for k, (j, _) in enumerate(pieces) if j >= first_kept), len(pieces) - 1)
            out.append((owner[at + k], kept))
    return out


def _stream_span(chars: list[dict], box) -> tuple[int, int]:
    at = [i for i, c in enumerate(chars) if _inside(c, box)]
    return (at[0], at[-1]) if at else (len(chars), len(chars))


# --- a whole file ---------------------------------------------------------------------------------

class PdfTables:
    """The tables of one PDF, page by page, with the time limits and the fallback to plain text.

    `page(number, text)` gives the page as parts in reading order: strings (paragraph text, the
    text layer without the tables) and Tables; None means "use the plain text" (no table, or
    table finding failed or ran out of time: then `warnings` says so)."""

    def __init__(self, path: Path, limits: Limits | None = None):
        self.path = Path(path)
        self.limits = limits or Limits.from_env()
        self.warnings: list[str] = []
        self._pdf = None
        self._opened = False
        self._previous: tuple[int, Table, bool] | None = None   # (page, last table, nothing after it)
        self._budget = self.limits.max_seconds / 2 if self.limits.max_seconds else 0.0
        self._spent = 0.0
        self._exhausted = False

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def _reopen(self) -> None:
        self.close()
        self._opened = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _warn(self, thai_text: str, english: str) -> None:
        message = f"{self.path.name}: {thai_text} ({english})"
        self.warnings.append(message)
        log.warning("%s", message)

    def _open(self):
        if not self._opened:
            self._opened = True
            import pdfplumber
            try:
                self._pdf = pdfplumber.open(self.path)
            except Exception as exc:  # noqa: BLE001 - pypdf read the file; pdfminer may not
                self._warn("อ่านตารางในไฟล์ไม่ได้ ใช้ข้อความธรรมดาของทุกหน้าแทน",
                           f"tables not read, plain text kept: {type(exc).__name__}: {exc}"[:200])
        return self._pdf

    def page(self, number: int, text: str, pypdf_page=None) -> list[str | Table] | None:
        if pypdf_page is not None and 0 <= _rule_count(pypdf_page) < MIN_RULES:
            self._previous = None
            return None
        if self._exhausted or self._open() is None:
            return None
        seconds = self.limits.max_ocr_page_seconds
        if self._budget:
            left = self._budget - self._spent
            if left <= 0:
                self._exhausted = True
                self._warn(f"ใช้เวลาหาตารางครบ {self._budget:g} วินาทีของไฟล์แล้ว ตั้งแต่หน้า {number} "
                           f"ใช้ข้อความธรรมดาแทน", f"table finding used its {self._budget:g} s for the "
                           f"file; from page {number} on, plain text is kept")
                return None
            seconds = min(seconds, left) if seconds else left
        start = time.monotonic()
        try:
            with time_limit(seconds):
                parts = self._read(number, text)
        except TableTimeout:
            self._previous = None
            self._reopen()          # the interrupted parse may have left the document half-read
            self._warn(f"หน้า {number}: หาตารางนานเกิน {seconds:g} วินาที ใช้ข้อความธรรมดาของหน้าแทน",
                       f"page {number}: table finding took longer than {seconds:g} s "
                       f"(KB_MAX_OCR_PAGE_SECONDS); plain text kept")
            return None
        except Exception as exc:  # noqa: BLE001 - one bad page must not cost the rest
            self._previous = None
            self._warn(f"หน้า {number}: อ่านตารางไม่ได้ ใช้ข้อความธรรมดาของหน้าแทน",
                       f"page {number}: tables not read, plain text kept: {type(exc).__name__}: {exc}"[:240])
            return None
        finally:
            self._spent += time.monotonic() - start
            if self._pdf is not None and number - 1 < len(self._pdf.pages):
                self._pdf.pages[number - 1].close()     # pdfplumber caches each page's objects
        return parts

    def _read(self, number: int, text: str) -> list[str | Table] | None:
        page = self._pdf.pages[number - 1]
        tables = find_tables(page)
        chars = _chars(page)
        if not tables:
            self._previous = None
            return None
        lines, found = self._layout(text, chars, tables)
        self._continue(number, tables[0], chars, page.height)
        # a single row is a table only as the rest of the previous page's table (a KPI table's
        # last row run over); anywhere else it is a framed line of layout
        kept = [t for t in tables if not _single_row(t) or t.header is not None]
        if not kept:
            self._previous = None
            return None
        if len(kept) < len(tables):
            tables = _numbered(kept)
            lines, found = self._layout(text, chars, tables)
        last = tables[-1]
        after = [c for c in chars if c["top"] > last.bbox[3] and not c["text"].isspace()]
        self._previous = (number, last, _few_lines(after))
        # reading order: the stream's, paragraphs between the tables they stand between
        items: list[tuple[int, int, str | Table]] = [(f.first, -1, f.table) for f in found]
        for i, (pos, line) in enumerate(lines):
            items.append((pos if pos >= 0 else _position_of_unfound(i, lines), i, line))
        items.sort(key=lambda x: (x[0], x[1]))
        out: list[str | Table] = []
        buffer: list[str] = []
        for _, _, item in items:
            if isinstance(item, Table):
                if buffer:
                    out.append("\n".join(buffer))
                    buffer = []
                out.append(item)
            else:
                buffer.append(item)
        if buffer:
            out.append("\n".join(buffer))
        return out

    def _layout(self, text: str, chars: list[dict], tables: list[Table]):
        """The text layer's lines outside the tables, and where each table sits in the stream."""
        lines = split_layer(text, chars, [t.bbox for t in tables])
        found = [_Found(t, *_stream_span(chars, t.bbox)) for t in tables]
        self._captions(found, lines)
        return lines, found

    def _captions(self, found: list[_Found], lines: list[tuple[int, str]]) -> None:
        """A line "ตารางที่ 2 …" just before a table in the stream is its caption."""
        for f in found:
            before = [l for p, l in lines if 0 <= p < f.first]
            if before and CAPTION.match(thai.normalize(before[-1]).strip()):
                f.table.caption = " ".join(before[-1].split())

    def _continue(self, number: int, table: Table, chars: list[dict], height: float) -> None:
        """Carry the header (and caption) of the previous page's last table onto this page's first
        one when it continues it."""
        if self._previous is None:
            return
        page, prev, nothing_after = self._previous
        if page != number - 1 or not nothing_after or table.caption:
            return
        above = [c for c in chars if c["bottom"] < table.bbox[1] and not c["text"].isspace()]
        if not _few_lines(above):
            return
        if len(prev.columns) != len(table.columns) or any(
                abs(a - b) > COLUMN_TOLERANCE for a, b in zip(prev.columns, table.columns)):
            return
        header = prev.header or next((r for r in prev.grid if sum(map(bool, r)) >= 2), None)
        if header is None or _looks_like_header(table, prev, header):
            return
        table.header = list(header)
        table.caption = prev.caption


def _few_lines(chars: list[dict]) -> bool:
    lines = _lines(chars)
    return len(lines) <= BETWEEN_LINES and all(len(ln) <= BETWEEN_CHARS for ln in lines)


def _looks_like_header(table: Table, prev: Table, header: list[str]) -> bool:
    """The first row of a table that may continue `prev` is a header when it repeats prev's
    header, or when it is set in the header's fonts and prev's data rows are not."""
    first = next((i for i, r in enumerate(table.grid) if any(r)), None)
    if first is None:
        return False
    if [thai.normalize(c) for c in table.grid[first]] == [thai.normalize(c) for c in header]:
        return True
    at = next((i for i, r in enumerate(prev.grid) if r == header), None)
    if at is None or at >= len(prev.fonts) or first >= len(table.fonts):
        return False
    head_fonts = prev.fonts[at]
    data_fonts = frozenset().union(*prev.fonts[at + 1:]) if prev.fonts[at + 1:] else frozenset()
    return bool(head_fonts) and head_fonts != data_fonts and table.fonts[first] == head_fonts


def _position_of_unfound(i: int, lines: list[tuple[int, str]]) -> int:
    """A line pypdf gave that was not found in the stream stays after the line before it."""
    for p, _ in reversed(lines[:i]):
        if p >= 0:
            return p
    return 0
