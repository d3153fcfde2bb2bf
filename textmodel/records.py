"""The records that flow from loading to the store: a loaded file's sections, the chunks cut
from them, and the document that holds the chunks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class Section:
    """A run of text and where it came from; `heading` is not repeated inside `text`."""

    text: str
    page: int | None = None  # 1-based PDF page
    sheet: str | None = None  # XLSX sheet name
    # first/last row: sheet rows (XLSX), file lines (CSV, MD) or rows of the table (DOCX, HTML)
    rows: tuple[int, int] | None = None
    heading: str | None = None  # for tables, also the title rows above the header
    table: int | None = None  # 1-based number of the table on its PDF page (rows are then its rows)
    origin: str = "text"  # "text": the file's own text (layer); "ocr": recognised from the image
    ocr_confidence: float | None = None  # mean word confidence 0–100 of OCR'd text


@dataclass
class LoadedFile:
    title: str
    sections: list[Section] = field(default_factory=list)
    # what was read less well than it could be, one line each in Thai (e.g. a PDF page whose
    # tables were not found in time and which kept its plain text)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Chunk:
    """One retrievable passage and where it came from."""
    text: str                     # display form (original digits)
    index_text: str               # what is embedded and indexed: context header + text
    ordinal: int
    page: int | None = None
    sheet: str | None = None
    rows: tuple[int, int] | None = None
    heading: str | None = None
    table: int | None = None
    origin: str = "text"
    ocr_confidence: float | None = None
    tokens: list[str] | None = None   # BM25 tokens of index_text (computed at ingest)


@dataclass
class Document:
    path: str
    file_name: str
    sha256: str
    title: str
    fiscal_year: int | None
    doc_type: str
    chunks: list[Chunk] = field(default_factory=list)

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.path)


def doc_id_for(path: str) -> str:
    return hashlib.sha1(str(path).encode()).hexdigest()[:16]
