"""Agency files → raw text sections with provenance (page, sheet, rows, heading).

`load(path)` is the only entry point. It returns text exactly as extracted: Thai
clean-up (`textmodel.thai.normalize`, `repair_pdf_text`) and chunking happen later in
the pipeline, so a fix there never needs a loader change.

Anything unreadable raises `LoadError`, never a library's own exception, so the
pipeline can report "this file, this problem" and carry on with the next file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docx
import openpyxl
from bs4 import BeautifulSoup, FeatureNotFound
from bs4.dammit import EncodingDetector
from bs4.element import NavigableString, PreformattedString
from docx.text.paragraph import Paragraph
from pypdf import PdfReader
from pypdf.errors import DependencyError

from ingest import ocr
from ingest.limits import LimitExceeded, Limits, check_archive, check_pages, check_rows, check_size
from ingest.pdftables import PdfTables
from ingest.tables import TableBlock, fold_header, table_blocks
from ingest.workbook import computed_values
from textmodel import thai
from textmodel.records import LoadedFile, Section

log = logging.getLogger(__name__)

class LoadError(Exception):
    """A file that cannot be ingested; `str(err)` is one line: "<file name>: <reason>"."""

    def __init__(self, path: Path | str, reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split())  # library messages may span lines
        super().__init__(f"{self.path.name}: {self.reason}")

    def __reduce__(self):
        # The default pickling calls cls(message), which does not fit __init__;
        # the pipeline may load files in worker processes.
        return (type(self), (self.path, self.reason))


# Office formats that are zip archives: their directory is checked before parsing.
_ZIPPED = frozenset({".docx", ".xlsx"})
# Scans and photos of documents: read by OCR, each frame a page.
IMAGE_TYPES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

# Told before each page of a PDF or image is read: (page, pages in the file, read by OCR). A
# scan of many pages takes minutes; the caller can show how far it got.
PageProgress = Callable[[int, int, bool], None]


def load(path: Path | str, limits: Limits | None = None, progress: PageProgress | None = None) -> LoadedFile:
    """The file's text sections. `limits`: the work limits (default: from the environment);
    `progress`: called before each page of a PDF or image is read."""
    path = Path(path)
    limits = limits or Limits.from_env()
    if not path.exists():
        raise LoadError(path, "file not found (it may have been moved or deleted)")
    if path.is_dir():
        raise LoadError(path, "is a folder, not a file")
    ext = path.suffix.lower()
    loader = _LOADERS.get(ext)
    if loader is None:
        raise LoadError(path, f"unsupported file type {ext or '(no extension)'}")
    try:
        if path.stat().st_size == 0:
            raise LoadError(path, "empty file (0 bytes)")
        check_size(path, limits)
        if ext in _ZIPPED:
            check_archive(path, limits)
        if ext in _PAGED:
            loaded = loader(path, limits, progress)
        else:
            loaded = loader(path, limits) if ext in _LIMITED else loader(path)
    except LoadError:
        raise
    except LimitExceeded as exc:
        raise LoadError(path, str(exc)) from None
    except OSError as exc:
        raise LoadError(path, f"cannot read file ({exc.strerror or exc})") from exc
    except Exception as exc:  # noqa: BLE001 - parsers raise anything on malformed input
        problem = _CORRUPT.get(ext, f"{ext} file is unreadable")
        raise LoadError(path, f"{problem} ({_describe(exc)})") from exc
    if not loaded.sections:
        raise LoadError(path, "no text found (the file is empty or holds only images)")
    return loaded


_CORRUPT = {
    ".pdf": "PDF is corrupt or not a PDF",
    ".docx": "DOCX is corrupt or not a Word document",
    ".xlsx": "XLSX is corrupt or not an Excel workbook",
    **{ext: "image is corrupt or not an image" for ext in IMAGE_TYPES},
}


def _describe(exc: Exception) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _first_line(text: str, limit: int = 120) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _SectionBuilder:
    """Collects paragraphs under the current heading; tables become their own sections.

    Shared by DOCX, HTML and Markdown, which all read as "headings, text, tables" in order.
    """

    def __init__(self) -> None:
        self.sections: list[Section] = []
        self.heading: str | None = None
        self.first_heading: str | None = None
        self._lines: list[str] = []

    def add_text(self, line: str) -> None:
        self._lines.append(line)

    def start_heading(self, heading: str) -> None:
        heading = " ".join(heading.split())
        if not heading:
            return
        self.flush()
        self.heading = heading
        self.first_heading = self.first_heading or heading

    def add_table(self, blocks: list[TableBlock]) -> None:
        self.flush()
        for b in blocks:
            # " › " as the chunker joins title and heading, e.g. "ผลการดำเนินงาน › ตารางที่ 2 …"
            heading = " › ".join(h for h in (self.heading, b.title) if h) or None
            self.sections.append(Section(b.text, rows=b.rows, heading=heading))

    def flush(self) -> None:
        text = "\n".join(ln.strip() for ln in self._lines if ln.strip())
        if text:
            self.sections.append(Section(text, heading=self.heading))
        self._lines = []


# --- PDF ---------------------------------------------------------------------


def _load_pdf(path: Path, limits: Limits | None = None, progress: PageProgress | None = None) -> LoadedFile:
    """The text layer of each page; a page without one, or whose text layer is not readable
    (legacy-font glyphs, text spaced letter by letter), is recognised from its image (ingest/ocr.py).
    A ruled table on a text page becomes rows with their header, as a sheet's rows do, each cited
    by page, table and row (ingest/pdftables.py)."""
    limits = limits or Limits.from_env()
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            # Many agency PDFs carry an owner password only (no printing/copying);
            # the empty user password opens those. Anything else needs the password.
            raise LoadError(path, "PDF is encrypted (it needs a password to open)")
        if len(reader.pages) == 0:
            raise LoadError(path, "PDF has no pages")
        check_pages(len(reader.pages), limits)
        sections, scanned = [], []
        with PdfTables(path, limits) as tables:
            for number, page in enumerate(reader.pages, start=1):
                if progress:
                    progress(number, len(reader.pages), False)
                try:
                    text = page.extract_text() or ""
                except DependencyError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one broken page should not cost the rest
                    log.warning("%s: page %d: text extraction failed (%s)", path.name, number, _describe(exc))
                    text = ""
                if text.strip() and not thai.looks_garbled(text):
                    sections.extend(_pdf_page_sections(tables, number, text.strip(), page))
                else:
                    scanned.append((number, text.strip()))
        notes = tables.warnings
    except DependencyError as exc:  # AES encryption without the `cryptography` package
        raise LoadError(path, f"PDF is encrypted and cannot be opened ({exc})") from exc
    if scanned:
        sections = sorted(sections + _ocr_pdf_pages(path, scanned, limits, none_read=not sections,
                                                    progress=progress, total=len(reader.pages)),
                          key=lambda s: s.page)
    if not sections:
        raise LoadError(path, "PDF has no extractable text (scanned?)")
    return LoadedFile(_pdf_title(reader) or _first_line(sections[0].text) or path.stem, sections,
                      warnings=notes)


def _pdf_page_sections(tables: PdfTables, number: int, text: str, page) -> list[Section]:
    """A text page's sections: its paragraphs (the text layer without the tables) and one
    section per block of table rows, in reading order; the plain text layer when the page has
    no table or finding them failed (ingest/pdftables.py)."""
    parts = tables.page(number, text, page)
    if parts is None:
        return [Section(text, page=number)]
    out = []
    for part in parts:
        if isinstance(part, str):
            if part.strip():
                out.append(Section(part.strip(), page=number))
            continue
        for b in table_blocks(part.numbered_rows()):
            # the heading is not cleaned with the text later (kb.ingestion): repair it here
            heading = thai.repair_pdf_text(" › ".join(h for h in (part.caption, b.title) if h)) or None
            out.append(Section(b.text, page=number, rows=b.rows, heading=heading, table=part.number))
    return out or [Section(text, page=number)]


def _ocr_pdf_pages(path: Path, pages: list[tuple[int, str]], limits: Limits, none_read: bool,
                   progress: PageProgress | None = None, total: int = 0) -> list[Section]:
    """OCR'd sections of the PDF pages numbered in `pages` (of `total`); a page whose OCR finds
    nothing keeps its text layer, if it had one."""
    import pypdfium2 as pdfium
    try:
        ocr.check_available()
    except ocr.OcrUnavailable as exc:
        if none_read:
            raise LoadError(path, f"PDF has no extractable text (scanned?) and {exc}") from None
        log.warning("%s: %d page(s) without a readable text layer left out: %s", path.name, len(pages), exc)
        return [Section(text, page=n) for n, text in pages if text]
    out = []
    pdf = pdfium.PdfDocument(str(path))
    try:
        for number, layer in pages:
            if progress:
                progress(number, total, True)
            page = pdf[number - 1]
            image = page.render(scale=ocr.page_scale(*page.get_size())).to_pil()
            found = _recognised(path, image, number, limits)
            if found is not None:
                out.append(found)
            elif layer:
                out.append(Section(layer, page=number))
    finally:
        pdf.close()
    return out


def _recognised(path: Path, image, page: int, limits: Limits) -> Section | None:
    import pytesseract
    try:
        got = ocr.recognise(image, timeout=limits.max_ocr_page_seconds)
    except pytesseract.TesseractError as exc:
        raise LoadError(path, f"OCR of page {page} failed ({_describe(exc)})") from None
    except RuntimeError as exc:        # pytesseract's time limit: "Tesseract process timeout"
        raise LoadError(path, f"OCR of page {page} took longer than {limits.max_ocr_page_seconds:g} s "
                              f"(KB_MAX_OCR_PAGE_SECONDS)") from exc
    if not got.text:
        return None
    return Section(got.text, page=page, origin="ocr", ocr_confidence=got.confidence)


# --- images (scans, photos of documents) ---------------------------------------


def _load_image(path: Path, limits: Limits | None = None, progress: PageProgress | None = None) -> LoadedFile:
    """Each frame (a TIFF may hold many pages) recognised as one page."""
    from PIL import Image, ImageOps, ImageSequence
    limits = limits or Limits.from_env()
    try:
        ocr.check_available()
    except ocr.OcrUnavailable as exc:
        raise LoadError(path, f"an image is read by OCR, and {exc}") from None
    sections = []
    try:
        with Image.open(path) as image:    # lazy: the size and frame count, no pixels decoded yet
            frames = getattr(image, "n_frames", 1)
            check_pages(frames, limits)
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                if progress:
                    progress(number, frames, True)
                if frame.width * frame.height > ocr.MAX_PIXELS:
                    raise LoadError(path, f"page {number} is {frame.width}×{frame.height} pixels, over "
                                          f"the {ocr.MAX_PIXELS / 1e6:g} million pixel limit")
                # a phone photo is stored sideways with an orientation tag
                found = _recognised(path, ImageOps.exif_transpose(frame.convert("RGB")), number, limits)
                if found is not None:
                    sections.append(found)
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:   # what Pillow raises on broken data
        raise LoadError(path, f"image is corrupt or not an image ({_describe(exc)})") from None
    if not sections:
        raise LoadError(path, "no text found in the image")
    return LoadedFile(_first_line(sections[0].text) or path.stem, sections)


def _pdf_title(reader) -> str:
    try:
        title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:  # noqa: BLE001 - a broken info dictionary is no reason to reject the text
        return ""
    # Word's PDF printer names documents "Microsoft Word - <file>.docx"; the file
    # name part is all that is worth keeping.
    title = re.sub(r"^Microsoft Word - ", "", str(title).strip())
    return " ".join(title.split())


# --- DOCX --------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _reject_ole(path: Path, kind: str) -> None:
    """Old .doc/.xls files renamed, and password-protected Office files, are OLE containers."""
    with path.open("rb") as f:
        if f.read(8) == _OLE_MAGIC:
            raise LoadError(
                path,
                f"{kind} is password-protected or in the old binary Office format; "
                f"save it again as {kind.lower()} without a password",
            )


_HEADING_STYLES = ("heading", "หัวเรื่อง")  # English and Thai Word name the built-in styles differently
_TITLE_STYLES = ("title", "ชื่อเรื่อง")


def _is_heading(paragraph) -> bool:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    name = name.strip().lower()
    return name.startswith(_HEADING_STYLES) or name in _TITLE_STYLES


def _docx_rows(table) -> Iterator[tuple[int, list[str]]]:
    for number, row in enumerate(table.rows, start=1):
        cells, previous = [], None
        for cell in row.cells:
            # python-docx returns a cell merged across columns once per column;
            # keeping its text once lets a merged title row read as a title.
            cells.append("" if cell._tc is previous else cell.text)
            previous = cell._tc
        yield number, cells


def _load_docx(path: Path) -> LoadedFile:
    _reject_ole(path, "DOCX")
    document = docx.Document(str(path))
    out = _SectionBuilder()
    # iter_inner_content follows the XML body order, so a table stays between
    # the paragraphs that introduce and discuss it.
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            if _is_heading(block):
                out.start_heading(block.text)
            else:
                out.add_text(block.text)
        else:
            out.add_table(table_blocks(_docx_rows(block)))
    out.flush()
    title = (document.core_properties.title or "").strip() or out.first_heading or path.stem
    return LoadedFile(title, out.sections)


# --- XLSX --------------------------------------------------------------------


def _format_value(value, number_format: str = "General") -> str:
    """Cell values as a person reads them in Excel, minus thousands separators."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if "%" in (number_format or ""):
            return f"{value * 100:.15g}%"
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))  # Excel stores every number as a float: 1500000.0 → 1500000
        return f"{value:.15g}"  # drops float noise such as 85.49999999999999
    return str(value)


def _sheet_grid(values_ws, formulas_ws, computed: dict) -> list[tuple[int, list[str]]]:
    """The sheet as people see it: values, not formulas; merged cells read where they apply.

    `computed`: results of formulas that had no cached value ((sheet, "B7") → value); a
    formula with neither reads as blank, never as its formula text.
    """
    max_row = max(values_ws.max_row, formulas_ws.max_row)
    max_col = max(values_ws.max_column, formulas_ws.max_column)
    bounds = dict(min_row=1, max_row=max_row, min_col=1, max_col=max_col)
    grid = []
    for cells, formula_cells in zip(values_ws.iter_rows(**bounds), formulas_ws.iter_rows(**bounds)):
        row = []
        for cell, formula_cell in zip(cells, formula_cells):
            value = cell.value
            if value is None and formula_cell.data_type == "f":
                value = computed.get((values_ws.title, formula_cell.coordinate))
            row.append(_format_value(value, cell.number_format))
        grid.append(row)
    merged = list(values_ws.merged_cells.ranges)
    # A merged range stores its value in the top-left cell only. Carry it down the range's
    # first column so every row it spans reads whole ("หมวด 1" on each of its KPI rows).
    for m in merged:
        top = grid[m.min_row - 1][m.min_col - 1]
        for r in range(m.min_row + 1, min(m.max_row, len(grid)) + 1):
            grid[r - 1][m.min_col - 1] = top
    return list(enumerate(fold_header(grid, merged), start=1))


_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s>/]")


def _workbook_rows(path: Path) -> int:
    """Rows of all sheets, counted as <row> elements streamed out of the archive.

    Cheaper than any parser (a million rows in about a second, a few MB of memory), and
    the archive's size was already checked, so inflating the sheets is bounded.
    """
    rows = 0
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            tail = b""
            with archive.open(name) as member:
                while block := member.read(1 << 20):
                    data = tail + block
                    rows += len(_ROW_TAG.findall(data))
                    # Keep an incomplete tag at the end for the next block; a complete one
                    # that ends in the kept bytes is not counted twice (it is cut off first).
                    cut = data.rfind(b"<")
                    tail = data[cut:] if cut >= len(data) - 8 and not _ROW_TAG.match(data, cut) else b""
    return rows


def _load_xlsx(path: Path, limits: Limits | None = None) -> LoadedFile:
    _reject_ole(path, "XLSX")
    limits = limits or Limits.from_env()
    with warnings.catch_warnings():
        # openpyxl warns about every extension it ignores (data validation,
        # conditional formatting); none of it affects the text.
        warnings.simplefilter("ignore")
        # A full load holds every cell in memory (≈ 2 GB for a million rows), so a workbook
        # over the limit is refused from a count that reads no cell.
        check_rows(_workbook_rows(path), limits)
        # With data_only=True a formula whose result was never cached reads as
        # None, just like an empty cell. So read the formulas first and the
        # cached values only when there are formulas to resolve.
        formulas = openpyxl.load_workbook(path, data_only=False)
        formula_cells = [(ws.title, cell.coordinate) for ws in formulas.worksheets
                         for row in ws.iter_rows() for cell in row if cell.data_type == "f"]
        values = openpyxl.load_workbook(path, data_only=True) if formula_cells else formulas
    uncached = {(sheet, ref) for sheet, ref in formula_cells if values[sheet][ref].value is None}
    computed = computed_values(path, uncached, limits.max_formula_cells)

    sections = []
    for ws in values.worksheets:
        for block in table_blocks(_sheet_grid(ws, formulas[ws.title], computed)):
            sections.append(Section(block.text, sheet=ws.title, rows=block.rows, heading=block.title))
    if not sections:
        raise LoadError(path, "empty workbook (no cell has a value)")
    title = (values.properties.title or "").strip() or path.stem
    return LoadedFile(title, sections)


# --- text: TXT, MD, CSV --------------------------------------------------------

_THAI_MARKS = frozenset("\u0e31\u0e33\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e3a") | frozenset(
    chr(c) for c in range(0x0E47, 0x0E4F)
)


def _looks_like_thai_text(text: str) -> bool:
    """Reject bytes that cp874 happens to decode but that are not Thai text.

    cp874 maps almost every byte to something, so decoding alone proves little.
    Real text has no control characters and its vowel/tone marks sit on a Thai
    letter; binary data or a Latin-1 file read as Thai breaks both rules.
    """
    if any((ch < " " and ch not in "\t\n\r\f") or "\x7f" <= ch <= "\x9f" for ch in text):
        return False
    marks = misplaced = 0
    previous = ""
    for ch in text:
        if ch in _THAI_MARKS:
            marks += 1
            misplaced += not ("\u0e01" <= previous <= "\u0e4e")
        previous = ch
    return misplaced <= marks // 20


_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _decode(data: bytes) -> str | None:
    """UTF-8 (BOM or not), UTF-16 with a BOM (Notepad's "Unicode"), else Thai cp874."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:  # binary, or UTF-16 without a BOM
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # cp874 (Windows Thai) is TIS-620 plus a few punctuation marks in 0x80-0x9F,
    # so it reads both. Python's "tis_620" codec would turn those bytes into
    # control characters instead.
    try:
        text = data.decode("cp874")
    except UnicodeDecodeError:
        return None
    return text if _looks_like_thai_text(text) else None


def _read_text(path: Path) -> str:
    text = _decode(path.read_bytes())
    if text is None:
        raise LoadError(path, "not valid UTF-8, TIS-620 or cp874 text")
    return text


def _load_txt(path: Path) -> LoadedFile:
    # One section: the chunker splits Thai sentences better than blank lines do.
    text = _read_text(path).strip()
    sections = [Section(text)] if text else []
    return LoadedFile(_first_line(text) or path.stem, sections)


_MD_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


def _md_cells(line: str) -> list[str]:
    line = line.strip()
    line = line[1:] if line.startswith("|") else line
    line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _load_md(path: Path) -> LoadedFile:
    lines = _read_text(path).splitlines()
    out = _SectionBuilder()
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if _MD_FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and (heading := _MD_HEADING.match(line)):
            out.start_heading(heading.group(2))
            i += 1
            continue
        elif (
            not in_fence
            and "|" in line
            and i + 1 < len(lines)
            and "|" in lines[i + 1]
            and _MD_TABLE_RULE.match(lines[i + 1])
        ):
            # A GFM table: header line, rule line, then rows up to the first line without a pipe.
            rows = [(i + 1, _md_cells(line))]
            i += 2
            while i < len(lines) and "|" in lines[i]:
                rows.append((i + 1, _md_cells(lines[i])))  # line numbers, 1-based, as an editor shows them
                i += 1
            out.add_table(table_blocks(rows))
            continue
        out.add_text(line)
        i += 1
    out.flush()
    text = "\n".join(lines)
    return LoadedFile(out.first_heading or _first_line(text) or path.stem, out.sections)


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;").delimiter
    except csv.Error:
        # The sniffer gives up on one-column files and on ragged rows; the
        # header line is the cleanest evidence left.
        header = _first_line(sample, limit=len(sample))
        return max(",\t;", key=header.count)


def _load_csv(path: Path, limits: Limits | None = None) -> LoadedFile:
    text = _read_text(path)
    check_rows(text.count("\n"), limits or Limits.from_env())  # an upper bound: quoted cells may span lines
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text[:16384]))
    rows = []
    line = 1
    for cells in reader:
        rows.append((line, cells))  # the line a record starts on, even if a quoted cell spans lines
        line = reader.line_num + 1
    sections = [Section(b.text, rows=b.rows, heading=b.title) for b in table_blocks(rows)]
    return LoadedFile(path.stem, sections)


# --- HTML ----------------------------------------------------------------------

_HTML_DROP = ("script", "style", "nav", "noscript", "template", "head")
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4"})
# Elements that start a new line. Everything else is inline and must not add a
# space: "<b>การ</b>ประชุม" is one Thai word.
_HTML_BLOCKS = frozenset(
    "address article aside blockquote dd div dl dt fieldset figcaption figure footer form "
    "h5 h6 header hr li main ol p pre section ul".split()
)
_HTML_SPACE = re.compile(r"[ \t\n\r\f\v]+")  # not \s, which would also eat _BR
_BR = "\u2028"
# WHATWG (and so every browser) decodes all of these labels as windows-874.
_THAI_LABELS = frozenset(
    {"tis-620", "tis620", "iso-8859-11", "iso8859-11", "windows-874", "cp874", "x-windows-874"}
)


def _html_markup(path: Path) -> str:
    data = path.read_bytes()
    declared = EncodingDetector.find_declared_encoding(data, is_html=True)
    if declared and not data.startswith(tuple(bom for bom, _ in _BOMS)):  # a BOM outranks <meta>
        codec = "cp874" if declared.lower() in _THAI_LABELS else declared
        try:
            return data.decode(codec, errors="replace")
        except LookupError:  # a label Python does not know; sniff like a text file instead
            pass
    text = _decode(data)
    if text is None:
        raise LoadError(path, "not valid UTF-8, TIS-620 or cp874 text")
    return text


def _html_text(element) -> str:
    return " ".join(element.get_text().split())


def _html_rows(table) -> Iterator[tuple[int, list[str]]]:
    """Rows of this table (not of tables nested in it), with rowspan/colspan laid out on a grid.

    Without the layout, a cell spanning rows would shift every later cell of
    those rows under the wrong header.
    """
    carried: dict[int, list] = {}  # column -> [rows still to fill, text]
    trs = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    for number, tr in enumerate(trs, start=1):
        cells = iter(tr.find_all(("td", "th"), recursive=False))
        row: list[str] = []
        while True:
            column = len(row)
            if column in carried:
                left, text = carried[column]
                row.append(text)
                if left == 1:
                    del carried[column]
                else:
                    carried[column][0] -= 1
                continue
            cell = next(cells, None)
            if cell is None:
                if any(c > column for c in carried):
                    row.append("")
                    continue
                break
            text = _html_text(cell)
            rowspan = _span(cell.get("rowspan"))
            for k in range(_span(cell.get("colspan"))):
                value = text if k == 0 else ""  # once across columns, as in XLSX and DOCX
                if rowspan > 1:
                    carried[len(row)] = [rowspan - 1, value]
                row.append(value)
        yield number, row


def _span(value) -> int:
    try:
        return max(1, min(int(value), 1000))  # a typo like colspan="10000" must not explode
    except (TypeError, ValueError):
        return 1


def _load_html(path: Path) -> LoadedFile:
    markup = _html_markup(path)
    try:
        soup = BeautifulSoup(markup, "lxml")
    except FeatureNotFound:  # lxml is not a declared dependency; the stdlib parser always works
        soup = BeautifulSoup(markup, "html.parser")
    title = _html_text(soup.title) if soup.title else ""
    # <br> is a line break in running text but only a space inside a table
    # cell; U+2028 (LINE SEPARATOR) is both, since str.split() treats it as
    # whitespace while the line splitting below keeps it.
    for br in soup.find_all("br"):
        br.replace_with(_BR)
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()

    out = _SectionBuilder()
    parts: list[str] = []

    def flush_parts() -> None:
        for line in "".join(parts).replace(_BR, "\n").split("\n"):
            out.add_text(" ".join(line.split()))
        parts.clear()

    def walk(node) -> None:
        for child in node.children:
            if isinstance(child, PreformattedString):  # comments, doctype, CDATA
                continue
            if isinstance(child, NavigableString):
                # Source line breaks are spaces in HTML; only blocks and <br> end a line.
                parts.append(_HTML_SPACE.sub(" ", str(child)))
            elif child.name in _HTML_HEADINGS:
                flush_parts()
                out.start_heading(_html_text(child))
            elif child.name == "table":
                flush_parts()
                out.add_table(table_blocks(_html_rows(child)))
            else:
                block = child.name in _HTML_BLOCKS
                if block:
                    parts.append("\n")
                walk(child)
                if block:
                    parts.append("\n")

    walk(soup.body or soup)
    flush_parts()
    out.flush()
    return LoadedFile(title or out.first_heading or path.stem, out.sections)


_LOADERS: dict[str, Callable[[Path], LoadedFile]] = {
    ".pdf": _load_pdf,
    ".docx": _load_docx,
    ".xlsx": _load_xlsx,
    ".csv": _load_csv,
    ".html": _load_html,
    ".htm": _load_html,
    ".txt": _load_txt,
    ".md": _load_md,
    **{ext: _load_image for ext in IMAGE_TYPES},
}
# loaders that take the work limits beside the path
_LIMITED = frozenset({".pdf", ".xlsx", ".csv", *IMAGE_TYPES})
# loaders that also tell their progress page by page
_PAGED = frozenset({".pdf", *IMAGE_TYPES})

# The extensions `load` reads (lower case); a folder walk can skip anything else up front.
SUPPORTED: frozenset[str] = frozenset(_LOADERS)
