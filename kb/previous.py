"""Last year's answers: a filled-in แบบฟอร์มที่ 3 is recognised at ingest and kept apart.

Why apart: a filled-in form is the one document that already *states* the answer for every
criterion. Indexed as evidence it would top every criterion's evidence list and the drafter
would copy last year's answer (figures and all) and cite it as if it were proof. So a
recognised form never enters the evidence index; its answers are stored per criterion in
a small table of the store's SQLite file and shown beside a new draft as "คำตอบปีก่อน",
with a warning when its years or figures are older than the year being assessed.

Recognition is by content, not by file name: the form's title plus many criterion codes
(N.M.K) at the start of lines. A report that quotes one or two criteria is not a form.
"""
from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ingest.limits import Limits, check_archive
from textmodel import thai

TITLE = re.compile(r"แบบประเมินสถานะการเป็นระบบราชการ\s*4\.0|แบบฟอร์มที่\s*3")
# A code opening a line, or a table cell: the official DOCX layout puts ☑ | code | wording in
# one row, which reaches us as one line with cells joined by "|" and each cell after the
# first row's as "header: value" ("| 1.1.1: 1.1.2 |").
CODE_AT_LINE = re.compile(
    r"(?m)(?:^|\||(?<=\d\.\d\.\d):)[^\S\n]*(?:<[^>]*>|[☐□☑☒:\t ])*([1-6]\.[1-4]\.[1-6])(?![\d.])")
MIN_CODES = 20          # of the 94; a real form has (nearly) all of them
HEAD_CHARS = 5000       # the form's title is within its first this many characters
_XML_TAG = re.compile(r"<[^>]+>")
FORM_SUFFIXES = {".txt", ".md", ".html", ".htm", ".docx", ".pdf"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS previous_answers (
  code TEXT NOT NULL, year INTEGER, answer TEXT NOT NULL, checked INTEGER NOT NULL,
  source_path TEXT NOT NULL, source_file TEXT NOT NULL, stored_at TEXT NOT NULL,
  PRIMARY KEY (code, source_path));
"""


@dataclass
class PreviousAnswer:
    code: str
    year: int | None
    answer: str
    checked: bool
    source_file: str

    def to_dict(self) -> dict:
        return {"code": self.code, "year": self.year, "answer": self.answer,
                "checked": self.checked, "source_file": self.source_file}


def form_text(path: Path) -> str | None:
    """The text of a file that could be a form, or None when it cannot be (type, size)."""
    suffix = path.suffix.lower()
    if suffix not in FORM_SUFFIXES or not path.is_file():
        return None
    try:
        if suffix in {".txt", ".md", ".html", ".htm"}:
            return path.read_text(encoding="utf-8-sig", errors="replace")
        from ingest.loaders import load
        return "\n".join(s.text for s in load(path).sections)
    except Exception:      # unreadable here → the ingest pipeline reports it properly
        return None


def looks_like_form(text: str) -> bool:
    head = thai.to_arabic_digits(text[:HEAD_CHARS])
    if not TITLE.search(head):
        return False
    return len(set(CODE_AT_LINE.findall(thai.to_arabic_digits(text)))) >= MIN_CODES


def read_form(path: Path, text: str | None = None) -> tuple[int | None, list[PreviousAnswer]]:
    """(form year, answers per criterion) of a filled-in form."""
    from kb.formparse import parse_docx, parse_text
    text = text if text is not None else form_text(path)
    if path.suffix.lower() == ".docx":
        catalogue = parse_docx(path)
    else:
        catalogue = parse_text(text or "")
    year = thai.fiscal_year(text or "", path.name)
    answers = [PreviousAnswer(c.code, year, c.answer_text(), c.checked, path.name)
               for c in catalogue.criteria()]
    return year, answers


class PreviousAnswers:
    """The previous_answers table in the store's SQLite file."""

    def __init__(self, db):
        self.db = db
        # one execute, outside `with db`: executescript COMMITs first and `with db` commits
        # at its end, and either would commit whatever another thread of the store has
        # half-written on the shared connection (a document being replaced)
        db.execute(SCHEMA)

    def save(self, path: Path, answers: list[PreviousAnswer]) -> int:
        now = datetime.now(timezone.utc).isoformat()
        with self.db:
            self.db.execute("DELETE FROM previous_answers WHERE source_path = ?", (str(path),))
            self.db.executemany(
                "INSERT INTO previous_answers VALUES (?,?,?,?,?,?,?)",
                [(a.code, a.year, a.answer, int(a.checked), str(path), a.source_file, now)
                 for a in answers if a.answer or a.checked])
        return sum(1 for a in answers if a.answer or a.checked)

    def latest(self, code: str, before: int | None = None) -> PreviousAnswer | None:
        """The newest stored answer for a criterion (from a form not newer than `before`)."""
        q = "SELECT * FROM previous_answers WHERE code = ?"
        args: list = [code]
        if before is not None:
            q += " AND (year IS NULL OR year <= ?)"
            args.append(before)
        row = self.db.execute(q + " ORDER BY year DESC, stored_at DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        return PreviousAnswer(row["code"], row["year"], row["answer"], bool(row["checked"]), row["source_file"])

    def forms(self) -> list[tuple[str, int | None, int]]:
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT source_file, year, COUNT(*) FROM previous_answers GROUP BY source_path ORDER BY year")]


def set_aside_forms(paths, kb, echo=None) -> tuple[list, list[str]]:
    """Split the paths to ingest into evidence paths and recognised forms.

    Forms are read into the previous_answers table (and removed from the evidence index if
    an earlier version put them there). A folder holding a form is replaced by its entries
    minus the form, so the pipeline still walks the rest exactly as before; unsupported files
    at that level are returned as skipped (the pipeline would otherwise call them errors).
    """
    from ingest.loaders import SUPPORTED
    keep: list = []
    skipped: list[str] = []
    table = kb.previous_answers
    for p in map(Path, paths):
        if p.is_dir():
            forms = [f for f in sorted(p.rglob("*")) if f.is_file() and _candidate(f, p) and _is_form(f)]
            if not forms:
                keep.append(p)
                continue
            for f in forms:
                _store(f, table, kb, echo)
            keep.extend(_without(p, set(forms), SUPPORTED, skipped))
        elif _is_form(p):
            _store(p, table, kb, echo)
        else:
            keep.append(p)
    return keep, skipped


def _candidate(f: Path, root: Path) -> bool:
    return f.suffix.lower() in FORM_SUFFIXES and not any(
        part.startswith(".") for part in f.relative_to(root).parts)


def _is_form(path: Path) -> bool:
    head = _quick_head(path)
    if head is not None and not TITLE.search(thai.to_arabic_digits(head)):
        return False
    text = form_text(path)
    return bool(text) and looks_like_form(text)


def _quick_head(path: Path) -> str | None:
    """The start of a PDF or the body text of a DOCX, read cheaply (None: no shortcut).

    Most evidence files are DOCX or PDF; loading each in full just to find that it lacks the
    form's title would read it twice per ingest (here and in the pipeline). The title must
    be in the first 5,000 characters (`looks_like_form`), so the start of the body is enough
    to rule a file out; a file that passes is read in full as before."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".docx":
            # a zip bomb is refused before anything is inflated (the pipeline says why)
            check_archive(path, Limits.from_env())
            with zipfile.ZipFile(path) as z:
                xml = z.read("word/document.xml").decode("utf-8", "replace")
            # the whole body, not its start: it also holds text the loader skips (text boxes,
            # field codes), so only "no title anywhere" safely rules a file out
            return html.unescape(_XML_TAG.sub("", xml.replace("</w:p>", "\n")))
        if suffix == ".pdf":
            from pypdf import PdfReader
            reader = PdfReader(path)
            if reader.is_encrypted and not reader.decrypt(""):
                return None
            text = ""
            for page in reader.pages:      # usually one page: stop once there is enough text
                text += (page.extract_text() or "").strip() + "\n"
                if len(text) >= HEAD_CHARS:
                    break
            return text[:HEAD_CHARS]
    except Exception:      # unreadable here → the full read (and the pipeline) reports it
        return None
    return None


def _without(folder: Path, forms: set[Path], supported: set[str], skipped: list[str]) -> list[Path]:
    out: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry in forms:
            continue
        if entry.is_dir():
            if any(f.is_relative_to(entry) for f in forms):
                out.extend(_without(entry, forms, supported, skipped))
            else:
                out.append(entry)
        elif entry.suffix.lower() in supported:
            out.append(entry)
        else:
            skipped.append(str(entry))
    return out


def _store(path: Path, table: PreviousAnswers, kb, echo) -> None:
    from kb.formparse import FormParseError
    try:
        year, answers = read_form(path)
    except FormParseError as err:
        if echo:
            echo(f"error: {path.name}: looks like a filled-in form but cannot be parsed ({err})")
        return
    n = table.save(path.resolve(), answers)
    for row in kb.store.find_documents(str(path)):     # an older ingest indexed it as evidence
        kb.store.remove_document(row["path"])
    if echo:
        echo(f"{path.name}: แบบฟอร์มที่ 3 ที่กรอกแล้ว (พ.ศ. {year or '?'}) — เก็บเป็นคำตอบปีก่อน "
             f"{n} ข้อ ไม่นำเข้าเป็นหลักฐาน")


# --- warnings beside a new draft ----------------------------------------------------------------

_YEAR = re.compile(r"(?<!\d)(25[4-9]\d)(?!\d)")


def staleness(answer: PreviousAnswer, year: int | None) -> list[str]:
    """Warnings for an earlier answer read in the year being assessed."""
    if year is None:
        return []
    text = thai.to_arabic_digits(answer.answer)
    out = []
    if answer.year and answer.year < year:
        out.append(f"คำตอบปีก่อนมาจากแบบฟอร์มปี พ.ศ. {answer.year} ({answer.source_file}) "
                   f"ซึ่งเก่ากว่าปีที่ประเมิน ({year})")
    old_years = sorted({int(y) for y in _YEAR.findall(text) if int(y) < year})
    if old_years:
        out.append("คำตอบปีก่อนอ้างถึงปี " + ", ".join(map(str, old_years)) +
                   f" ซึ่งเก่ากว่าปีที่ประเมิน ({year}) — ปรับให้เป็นข้อมูลปีปัจจุบันก่อนใช้")
    if answer.year and answer.year < year:
        from kb.verify import numbers
        figures = [f.text for f in numbers(answer.answer) if not _YEAR.fullmatch(f.key)]
        if figures:
            out.append("ตัวเลขในคำตอบปีก่อน (" + ", ".join(figures[:6]) + ("…" if len(figures) > 6 else "") +
                       f") เป็นของปี {answer.year} — ต้องใช้ตัวเลขของปี {year}")
    return out
