"""The criteria catalogue of แบบฟอร์มที่ 3 (6 หมวด → items → criteria).

The catalogue is data, not code: `kb/formparse.py` reads a filled-in form and
writes `kb/data/criteria-<year>.json`; this module only models and loads it.
A criterion keeps two kinds of text apart on purpose:

- what the *form* asks (item title, `wording`, sub-prompt labels) — the same
  for every agency, so it is what retrieval may search with (`query_text`);
- what the *agency* wrote (`answer`, sub-prompt answers) — one agency's
  example, useful as a style sample but never a query (`answer_text`).
"""

from __future__ import annotations

import functools
import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path(__file__).parent / "data" / "criteria-2564.json"

# Bump when the JSON layout changes, so an old file fails loudly, not oddly.
SCHEMA = 1

# Officers type codes with Thai digits as often as Arabic ones (๓.๔.๓).
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


@dataclass
class SubPrompt:
    """One part of a criterion the form asks for separately
    (e.g. ด้านเศรษฐกิจ, ความท้าทาย); `checked` is the part's own tick box."""

    label: str
    answer: str = ""
    checked: bool = False


@dataclass
class Criterion:
    code: str  # "3.4.3"
    item_code: str  # "3.4"
    category: int  # 3
    wording: str  # the form's question, up to and including its lead-in (คือ/ได้แก่/โดย …)
    answer: str = ""  # the agency's text for the question itself
    subprompts: list[SubPrompt] = field(default_factory=list)
    checked: bool = False  # the criterion's box, or any of its parts' boxes, is ticked
    # Set by Catalogue so a criterion can name its item; not serialised, not compared.
    item: Item | None = field(default=None, init=False, repr=False, compare=False)

    def query_text(self) -> str:
        """Everything the form itself says about this criterion, for retrieval.
        The agency's answer is left out: it would make the query match the
        example agency's wording instead of the criterion."""
        parts = [self.item.title] if self.item else []
        parts.append(self.wording)
        parts.extend(sp.label for sp in self.subprompts)
        return "\n".join(p for p in parts if p)

    def answer_text(self) -> str:
        """What the agency wrote, sub-prompt answers labelled; a ticked part
        with no text counts as an answer too (e.g. 3.4.2's checklist)."""
        lines = [self.answer] if self.answer else []
        for sp in self.subprompts:
            if sp.answer:
                lines.append(f"{sp.label}: {sp.answer}")
            elif sp.checked:
                lines.append(sp.label)
        return "\n".join(lines)


@dataclass
class Item:
    code: str  # "3.4"
    title: str
    choices: list[str] = field(default_factory=list)  # "ยังไม่มีผล…", "อยู่ในระหว่างดำเนินการ"
    criteria: list[Criterion] = field(default_factory=list)

    @property
    def category(self) -> int:
        return int(self.code.split(".")[0])


@dataclass
class Category:
    number: int
    title: str
    items: list[Item] = field(default_factory=list)


@dataclass
class Catalogue:
    categories: list[Category] = field(default_factory=list)
    _by_code: dict[str, Criterion] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code = {}
        for item in self.items():
            for criterion in item.criteria:
                criterion.item = item
                if criterion.code in self._by_code:
                    raise ValueError(f"criterion code {criterion.code} appears twice in the catalogue")
                self._by_code[criterion.code] = criterion

    def items(self) -> list[Item]:
        return [item for cat in self.categories for item in cat.items]

    def criteria(self) -> list[Criterion]:
        return [c for item in self.items() for c in item.criteria]

    def get(self, code: str) -> Criterion:
        key = _normalise_code(code)
        try:
            return self._by_code[key]
        except KeyError:
            raise KeyError(self._unknown(code, "criterion")) from None

    def item(self, code: str) -> Item:
        key = _normalise_code(code)
        for item in self.items():
            if item.code == key:
                return item
        raise KeyError(self._unknown(code, "item"))

    def _unknown(self, code: str, what: str) -> str:
        codes = list(self._by_code) if what == "criterion" else [i.code for i in self.items()]
        span = f"{codes[0]} … {codes[-1]}" if codes else "none"
        return f"unknown {what} code {code!r} (the catalogue has {len(codes)}: {span})"

    # -- JSON ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "categories": [
                {
                    "number": cat.number,
                    "title": cat.title,
                    "items": [
                        {
                            "code": item.code,
                            "title": item.title,
                            "choices": list(item.choices),
                            "criteria": [_criterion_dict(c) for c in item.criteria],
                        }
                        for item in cat.items
                    ],
                }
                for cat in self.categories
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"criteria file has schema {data.get('schema')!r}, expected {SCHEMA}")
        categories = []
        for cat in data["categories"]:
            items = []
            for it in cat["items"]:
                criteria = [
                    Criterion(
                        code=c["code"],
                        item_code=it["code"],
                        category=cat["number"],
                        wording=c["wording"],
                        answer=c.get("answer", ""),
                        subprompts=[SubPrompt(**sp) for sp in c.get("subprompts", [])],
                        checked=c.get("checked", False),
                    )
                    for c in it["criteria"]
                ]
                items.append(Item(it["code"], it["title"], list(it.get("choices", [])), criteria))
            categories.append(Category(cat["number"], cat["title"], items))
        return cls(categories)

    @classmethod
    def from_json(cls, text: str) -> Catalogue:
        return cls.from_dict(json.loads(text))


def _criterion_dict(c: Criterion) -> dict[str, Any]:
    # item_code and category are implied by the nesting; keep the file free of repeats.
    return {
        "code": c.code,
        "wording": c.wording,
        "answer": c.answer,
        "checked": c.checked,
        "subprompts": [{"label": sp.label, "answer": sp.answer, "checked": sp.checked} for sp in c.subprompts],
    }


def _normalise_code(code: str) -> str:
    return str(code).strip().translate(_THAI_DIGITS)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The shipped catalogue (or the one at `path`). Cached per file: the
    catalogue is read-only reference data shared by CLI, API and retrieval."""
    return _load(Path(path or DEFAULT_PATH).resolve())


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> Catalogue:
    if not path.is_file():
        raise FileNotFoundError(
            f"criteria catalogue not found: {path} "
            "(build it with: python -m kb.formparse FORM_PATH --out kb/data/criteria-2564.json)"
        )
    return Catalogue.from_json(path.read_text(encoding="utf-8"))


# -- display (used by `kb criteria`) ------------------------------------------

def shorten(text: str, width: int = 70) -> str:
    """Cut `text` to about `width` characters for one-line listings, at a space
    when one is near, and never between a Thai letter and its vowel/tone mark."""
    if len(text) <= width:
        return text
    cut = text.rfind(" ", int(width * 0.6), width)
    if cut == -1:
        cut = width
        while cut < len(text) and unicodedata.category(text[cut]).startswith("M"):
            cut += 1
    return text[:cut].rstrip() + "…"


def format_tree(catalogue: Catalogue, width: int = 70) -> str:
    """หมวด → items → criteria codes with a short wording, one per line."""
    lines = []
    for cat in catalogue.categories:
        lines.append(f"หมวด {cat.number} {cat.title}")
        for item in cat.items:
            lines.append(f"  {item.code} {item.title}")
            for c in item.criteria:
                mark = "☑" if c.checked else " "
                lines.append(f"   {mark}{c.code} {shorten(c.wording, width)}")
    return "\n".join(lines)


def format_criterion(criterion: Criterion) -> str:
    """Everything known about one criterion, for `kb criteria 3.4.3`."""
    item = criterion.item
    header = f"{criterion.code}  หมวด {criterion.category}"
    if item:
        header += f" · {item.code} {item.title}"
    lines = [header, "", "ข้อคำถาม:", f"  {criterion.wording}"]
    if criterion.subprompts:
        lines.append("ประเด็นย่อย:")
        for sp in criterion.subprompts:
            lines.append(f"  {'☑' if sp.checked else '-'} {sp.label}")
    if item and item.choices:
        lines.append("ตัวเลือกอื่นของข้อ " + item.code + ":")
        lines.extend(f"  ☐ {choice}" for choice in item.choices)
    answer = criterion.answer_text().splitlines()
    if criterion.checked and not answer:
        answer = ["☑ (ทำเครื่องหมายไว้ ไม่มีคำบรรยาย)"]  # ticked, nothing written
    lines.append("ตัวอย่างคำตอบ (จากแบบฟอร์มต้นฉบับ):")
    lines.extend(f"  {line}" for line in answer or ["—"])
    return "\n".join(lines)
