"""Work limits per file, checked before a parser sees the file.

DOCX and XLSX are zip archives of XML: a file of a few hundred kilobytes can declare
gigabytes of XML (a "zip bomb"), and python-docx / openpyxl would inflate and parse all of
it in memory. The archive's central directory states every member's size before anything
is inflated, and Python's zipfile never inflates a member past its stated size, so checking
the directory bounds what the parsers can be made to read.

The text a file yields is bounded too, before the costly steps: its characters and its
longest line before sentence splitting, its number of passages before embedding (a small
DOCX of a million empty-ish paragraphs, a one-line 20 MB text, a 200,000-row CSV).

The time one file may take is bounded too (`Deadline`): checked between the steps of its
ingestion (after loading, chunking, tokenising and after each batch of embeddings) and always
before anything is written, so a file over the limit leaves the store as it was. The check is
cooperative: one parser call that never returns is not interrupted, only caught when it does.

Each limit is a setting (environment variable in brackets); the message names the file, the
figure found and the limit, in Thai with the English beside it.
"""
from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

MB = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_file_mb: float = 200.0          # bytes on disk [KB_MAX_FILE_MB]
    max_unzipped_mb: float = 300.0      # all members of an archive, inflated [KB_MAX_UNZIPPED_MB]
    max_ratio: float = 200.0            # inflated / compressed, over the archive [KB_MAX_ZIP_RATIO]
    max_members: int = 20_000           # members of an archive [KB_MAX_ZIP_MEMBERS]
    max_chars: int = 5_000_000          # characters of text extracted from one file [KB_MAX_CHARS]
    max_line_chars: int = 200_000       # characters in one line or paragraph [KB_MAX_LINE_CHARS]
    max_chunks: int = 5_000             # passages (each one embedding) per file [KB_MAX_CHUNKS]
    max_seconds: float = 600.0          # to load, chunk and embed one file; 0 = no limit [KB_MAX_FILE_SECONDS]
    max_rows: int = 100_000             # rows of a workbook (all sheets) or a CSV [KB_MAX_ROWS]
    max_formula_cells: int = 10_000     # formulas without a saved result computed per workbook (~30 s, ~0.5 GB) [KB_MAX_FORMULA_CELLS]
    max_pages: int = 2_000              # pages of a PDF, frames of an image [KB_MAX_PAGES]
    max_ocr_page_seconds: float = 120.0 # Tesseract on one page image (~2–10 s at 300 dpi) [KB_MAX_OCR_PAGE_SECONDS]

    @classmethod
    def from_env(cls) -> "Limits":
        env = os.environ
        return cls(max_file_mb=float(env.get("KB_MAX_FILE_MB", cls.max_file_mb)),
                   max_unzipped_mb=float(env.get("KB_MAX_UNZIPPED_MB", cls.max_unzipped_mb)),
                   max_ratio=float(env.get("KB_MAX_ZIP_RATIO", cls.max_ratio)),
                   max_members=int(env.get("KB_MAX_ZIP_MEMBERS", cls.max_members)),
                   max_chars=int(env.get("KB_MAX_CHARS", cls.max_chars)),
                   max_line_chars=int(env.get("KB_MAX_LINE_CHARS", cls.max_line_chars)),
                   max_chunks=int(env.get("KB_MAX_CHUNKS", cls.max_chunks)),
                   max_seconds=float(env.get("KB_MAX_FILE_SECONDS", cls.max_seconds)),
                   max_rows=int(env.get("KB_MAX_ROWS", cls.max_rows)),
                   max_formula_cells=int(env.get("KB_MAX_FORMULA_CELLS", cls.max_formula_cells)),
                   max_pages=int(env.get("KB_MAX_PAGES", cls.max_pages)),
                   max_ocr_page_seconds=float(env.get("KB_MAX_OCR_PAGE_SECONDS", cls.max_ocr_page_seconds)))


# A small archive may compress far better than any ratio (a sheet of one repeated value):
# the ratio is only a sign of a bomb once the inflated size is this large.
_RATIO_FROM_MB = 20.0


class LimitExceeded(ValueError):
    """A file over one of the limits; `str()` is the reason (the loader prefixes the name)."""


def check_size(path: Path, limits: Limits) -> None:
    size = path.stat().st_size
    if size > limits.max_file_mb * MB:
        raise LimitExceeded(f"ไฟล์มีขนาด {size / MB:.0f} MB เกินขีดจำกัด {limits.max_file_mb:g} MB "
                            f"(file is {size / MB:.0f} MB, over the {limits.max_file_mb:g} MB limit)")


def check_archive(path: Path, limits: Limits) -> None:
    """Refuse an Office file whose zip directory declares more than the limits allow.
    A file that is not a zip at all is left to the loader (it reports it as corrupt)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        return
    if len(members) > limits.max_members:
        raise LimitExceeded(f"ไฟล์บีบอัดภายในมี {len(members):,} ส่วน เกินขีดจำกัด {limits.max_members:,} ส่วน "
                            f"(archive has {len(members):,} members, over the {limits.max_members:,} limit)")
    inflated = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members) or 1
    if inflated > limits.max_unzipped_mb * MB:
        raise LimitExceeded(
            f"เนื้อหาภายในไฟล์ขยายได้ {inflated / MB:,.0f} MB เกินขีดจำกัด {limits.max_unzipped_mb:g} MB "
            f"ไม่ได้นำเข้า (archive inflates to {inflated / MB:,.0f} MB, over the "
            f"{limits.max_unzipped_mb:g} MB limit: possibly a zip bomb)")
    if inflated > _RATIO_FROM_MB * MB and inflated / packed > limits.max_ratio:
        raise LimitExceeded(
            f"อัตราการบีบอัด {inflated / packed:,.0f} เท่า ผิดปกติ (เกิน {limits.max_ratio:g} เท่า) ไม่ได้นำเข้า "
            f"(compression ratio {inflated / packed:,.0f}:1 is over {limits.max_ratio:g}:1: possibly a zip bomb)")


def check_text(texts: list[str], limits: Limits) -> None:
    """The extracted text of a file, before it is split into sentences."""
    total = sum(len(t) for t in texts)
    if total > limits.max_chars:
        raise LimitExceeded(f"ข้อความในไฟล์ยาว {total:,} ตัวอักษร เกินขีดจำกัด {limits.max_chars:,} ตัวอักษร "
                            f"(text of {total:,} characters, over the {limits.max_chars:,} limit)")
    longest = max((len(line) for t in texts for line in t.split("\n")), default=0)
    if longest > limits.max_line_chars:
        raise LimitExceeded(f"มีบรรทัดยาว {longest:,} ตัวอักษรโดยไม่ขึ้นบรรทัดใหม่ เกินขีดจำกัด "
                            f"{limits.max_line_chars:,} ตัวอักษร (a line of {longest:,} characters, over "
                            f"the {limits.max_line_chars:,} limit)")


def check_rows(n: int, limits: Limits) -> None:
    """Rows of a table file, counted before its cells are parsed into memory."""
    if n > limits.max_rows:
        raise LimitExceeded(f"ไฟล์มี {n:,} แถว เกินขีดจำกัด {limits.max_rows:,} แถว แบ่งไฟล์ให้เล็กลงหรือปรับ "
                            f"KB_MAX_ROWS (has {n:,} rows, over the {limits.max_rows:,} limit)")


def check_chunks(n: int, limits: Limits) -> None:
    """The number of passages a file makes, before any is embedded."""
    if n > limits.max_chunks:
        raise LimitExceeded(f"ไฟล์นี้แบ่งได้ {n:,} ส่วนข้อความ เกินขีดจำกัด {limits.max_chunks:,} ส่วน "
                            f"แบ่งไฟล์ให้เล็กลงหรือปรับ KB_MAX_CHUNKS (makes {n:,} passages, over the "
                            f"{limits.max_chunks:,} limit)")


class Deadline:
    """The time budget of one file (`Limits.max_seconds`), from when its ingestion starts."""

    def __init__(self, limits: Limits):
        self.seconds = limits.max_seconds
        self.start = time.monotonic()

    def check(self) -> None:
        if self.seconds and time.monotonic() - self.start > self.seconds:
            raise LimitExceeded(
                f"ใช้เวลาประมวลผลเกิน {self.seconds:g} วินาทีต่อไฟล์ จึงไม่ได้นำเข้า (ข้อมูลเดิมในคลังไม่เปลี่ยนแปลง) "
                f"แบ่งไฟล์ให้เล็กลงหรือปรับ KB_MAX_FILE_SECONDS (took longer than the {self.seconds:g} s "
                f"limit per file)")


def check_pages(pages: int, limits: Limits) -> None:
    if pages > limits.max_pages:
        raise LimitExceeded(f"มี {pages:,} หน้า เกินขีดจำกัด {limits.max_pages:,} หน้า "
                            f"(has {pages:,} pages, over the {limits.max_pages:,} page limit)")
