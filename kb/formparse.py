"""Parse a filled-in แบบฟอร์มที่ 3 into the criteria catalogue.

    python -m kb.formparse FORM_PATH [--out kb/data/criteria-2564.json]

The form reaches us through document converters, so the text is messy in
known ways, and the parser is built around them rather than around one file:

- lines mix tabs, HTML fragments (<p>, <ol>, <li>, <input type="checkbox"/>)
  and plain text; tick boxes may also be glyphs (☐ □ empty, ☑ ☒ ticked);
- a page break can cut a sentence, even a word, and leaves a blank line:
  the text after the blank line is glued back on (see `_Node.wrap`);
- the same structure every year: ``หมวด N title``, ``N.M item title``,
  ``N.M.K criterion``, then two choice lines closing each item
  (ยังไม่มีผลการดำเนินการ… / อยู่ในระหว่างดำเนินการ, with spelling variants).

Inside a criterion, each piece of text is split into the form's question and
the agency's answer at the first *lead-in* word the form puts before its blank
(คือ, ได้แก่, โดย, โดยวิธี(การ), พอสังเขป, and เช่น when nothing stronger
follows). The question keeps its lead-in so that ``wording + answer`` still
reads like the filled form. Parts the form asks for separately — tick-box
lines, ``- ด้าน…`` bullets, and follow-on paragraphs that open with their own
short prompt (``ภารกิจที่ 1 คือ …``) — become sub-prompts.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from kb.criteria import Catalogue, Category, Criterion, Item, SubPrompt

UNCHECKED, CHECKED = "☐", "☑"
_BOX_STATE = {"☐": False, "□": False, "☑": True, "☒": True}
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")

# -- line clean-up -------------------------------------------------------------
_INPUT_TAG = re.compile(r"<input\b[^>]*>", re.I)
# Block-level tags end a piece of text; inline tags just disappear.
_BLOCK_TAG = re.compile(r"</?(?:p|div|ol|ul|li|br|tr|td|th|table|h[1-6])\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
# A new piece starts at a tick box, and at an inline bullet " - ข…" — but not at
# "2561 - 2565" or "E - Service", hence the digit and Thai-letter guards.
_PIECE_START = re.compile(r"(?=[☐□☑☒])|(?<=[^\d\s])\s+(?=[-–]\s+[\u0E01-\u0E4F])")

# -- structure -----------------------------------------------------------------
_CATEGORY = re.compile(r"หมวด(?:ที่)?\s*(\d+)\s*[:.]?\s*(.*)")
_CRITERION = re.compile(r"(\d+)\.(\d+)\.(\d+)(?![\d.])\s*(.*)")
_ITEM = re.compile(r"(\d+)\.(\d+)(?![\d.])\s+(\S.*)")
_BULLET = re.compile(r"[-–•]\s*")
_NUMBERED = re.compile(r"(?:\d{1,2}|[๐-๙]{1,2})[.)](?!\d)")
_LIST_INSIDE = re.compile(r"(?:^|\s)(?:\d{1,2}|[๐-๙]{1,2})[.)]\s")

# -- question / answer ---------------------------------------------------------
# Lead-ins that introduce the agency's text. "โดย" and "เช่น" only count as
# whole words: "โดยตรง", "โดยมี…" are ordinary prose.
_STRONG_LEAD = re.compile(r"คือ|ได้แก่|(?:(?<=\s)|^)โดย(?:วิธีการ|วิธี)?(?=\s|\(|$)|พอสังเขป(?=\s|$)")
# "เช่น" is weaker: in "เช่น การเปรียบเทียบกับคู่เทียบ คือ …" the blank is after คือ.
# It wins only when a list follows it or nothing else would.
_WEAK_LEAD = re.compile(r"(?:(?<=\s)|^)เช่น(?=\s|$)")
_LIST_FOLLOWS = re.compile(r"\s*(?:$|[-–•]|(?:\d{1,2}|[๐-๙]{1,2})[.)])")
# "โดย (ระบุอย่างน้อย 2 ภารกิจ)" — an instruction in brackets after the lead-in is still the form's.
_INSTRUCTION = re.compile(r"\s*\([^()]*(?:ระบุ|ตอบ|อย่างน้อย|กรณี|เลือก|กรุณา|โปรด)[^()]*\)")
_TRAILING_LEAD = re.compile(r"\s*(?:คือ|ได้แก่|เช่น|โดย(?:วิธีการ|วิธี)?|พอสังเขป)\s*:?$")
_URL = re.compile(r"https?://\S+")
# A second blank inside the answer: "… และมีแนวทางในการแก้ไข คือ …",
# "… โดยมียุทธศาสตร์ที่ตอบสนองความท้าทายได้แก่ …". The form opens such follow-up
# prompts with และมี…/โดย… as one unspaced phrase right before its lead-in.
_FOLLOW_UP = re.compile(r"\s((?:และมี|โดย)\S+?)\s*(?:คือ|ได้แก่|(?<=\s)โดย(?=\s))")
# A paragraph that opens with a prompt of its own ("ภารกิจที่ 2 คือ …") has a
# short label before its lead-in, and no numbered list inside that label.
_MAX_LABEL = 150


class FormParseError(ValueError):
    """The text is not a แบบฟอร์มที่ 3 form, or its structure is broken."""


@dataclass
class _Piece:
    text: str
    line: int
    box: bool | None = None  # None: no tick box; else whether it is ticked
    after_blank: bool = False  # first piece of a line that follows a blank line

    @property
    def kind(self) -> str:
        if self.box is not None:
            return "box"
        if _BULLET.match(self.text):
            return "bullet"
        if _NUMBERED.match(self.text):
            return "numbered"  # a list line: always answer text, never a prompt
        return "text"


def _clean(line: str) -> str:
    line = _INPUT_TAG.sub(lambda m: CHECKED if re.search(r"\bchecked\b", m.group(0), re.I) else UNCHECKED, line)
    line = _ANY_TAG.sub("", _BLOCK_TAG.sub("\n", line))
    return html.unescape(line)


def _pieces(lines: Iterable[str]) -> Iterator[_Piece]:
    """Cleaned, whitespace-collapsed pieces of text in reading order."""
    blank_before = False
    pending_box: bool | None = None  # a tick box alone in its cell/paragraph belongs to what follows
    for number, raw in enumerate(lines, 1):
        chunks = [c for part in _clean(raw).split("\n") for c in _PIECE_START.split(part)]
        chunks = [" ".join(c.split()) for c in chunks]
        chunks = [c for c in chunks if c]
        if not chunks:
            blank_before = True
            continue
        for index, chunk in enumerate(chunks):
            box = None
            if chunk[0] in _BOX_STATE:
                box, chunk = _BOX_STATE[chunk[0]], chunk[1:].strip()
                if not chunk:
                    pending_box = box
                    continue
            if box is None and pending_box is not None:
                box = pending_box
            pending_box = None
            yield _Piece(chunk, number, box, after_blank=blank_before and index == 0)
        blank_before = False


# -- building a criterion ------------------------------------------------------

def _is_thai(ch: str) -> bool:
    return "\u0e01" <= ch <= "\u0e5b"


@dataclass
class _Node:
    """A question with its answer text: the criterion itself or one of its parts."""

    head: str  # prompt, usually followed by the start of the answer
    checked: bool = False
    paragraph_level: bool = True  # the criterion, or a part opened by a paragraph
    tail: list[str] = field(default_factory=list)  # further answer paragraphs / list lines

    def wrap(self, text: str) -> None:
        """Glue text cut off by a page break. Thai has no spaces between words,
        so a break between two Thai letters is most likely inside a phrase."""
        prev = self.tail[-1] if self.tail else self.head
        glue = "" if prev and _is_thai(prev[-1]) and _is_thai(text[0]) else " "
        if self.tail:
            self.tail[-1] += glue + text
        else:
            self.head += glue + text

    def split(self) -> tuple[str, str]:
        prompt, answer = split_prompt(self.head)
        return prompt, " ".join(t for t in [answer, *self.tail] if t)


@dataclass
class _Draft:
    code: str
    item_code: str
    category: int
    head: _Node
    parts: list[_Node] = field(default_factory=list)

    def add(self, piece: _Piece) -> None:
        node = self.parts[-1] if self.parts else self.head
        kind = piece.kind
        if kind in ("box", "bullet"):
            bullet = _BULLET.match(piece.text)
            text = piece.text[bullet.end():] if bullet else piece.text
            self.parts.append(_Node(text, checked=bool(piece.box), paragraph_level=False))
        elif not node.head:  # "5.4.2 <p>wording</p>": the code and its text came as separate pieces
            node.head = piece.text
        elif kind == "text" and piece.after_blank:
            node.wrap(piece.text)
        elif kind == "text" and not node.tail and _lead_at_start(piece.text):
            node.head += " " + piece.text  # "<p>…ได้หลากหลาย</p> <p>คือ …</p>"
        elif kind == "text" and node.paragraph_level and _opens_with_prompt(piece.text):
            self.parts.append(_Node(piece.text))
        else:
            node.tail.append(piece.text)

    def finish(self) -> Criterion:
        wording, answer = self.head.split()
        answer, follow_up = split_follow_up(answer)
        subprompts = [follow_up] if follow_up else []
        for part in self.parts:
            prompt, part_answer = part.split()
            part_answer, follow_up = split_follow_up(part_answer)
            subprompts.append(SubPrompt(_TRAILING_LEAD.sub("", prompt), part_answer, part.checked))
            if follow_up:
                subprompts.append(follow_up)
        checked = self.head.checked or any(sp.checked for sp in subprompts)
        return Criterion(self.code, self.item_code, self.category, wording, answer, subprompts, checked)


def _find_lead(text: str) -> re.Match | None:
    strong = _STRONG_LEAD.search(text)
    weak = _WEAK_LEAD.search(text)
    if weak and (strong is None or (weak.start() < strong.start() and _LIST_FOLLOWS.match(text, weak.end()))):
        return weak
    return strong


def _lead_at_start(text: str) -> bool:
    lead = _find_lead(text)
    return lead is not None and lead.start() == 0


def _opens_with_prompt(text: str) -> bool:
    lead = _find_lead(text)
    if lead is None or lead.start() == 0:
        return False
    label = text[: lead.start()]
    return len(label) <= _MAX_LABEL and not _LIST_INSIDE.search(label)


def split_prompt(text: str) -> tuple[str, str]:
    """Split one piece of form text into (the form's prompt, the agency's answer).

    >>> split_prompt("มีกลไก/แนวทาง คือ การสัมมนา")
    ('มีกลไก/แนวทาง คือ', 'การสัมมนา')
    """
    lead = _find_lead(text)
    if lead is None:
        # No lead-in: a statement to tick. A link is still the agency's (1.2.5 asks for one).
        urls = _URL.findall(text)
        if urls:
            return " ".join(_URL.sub("", text).split()), " ".join(urls)
        return text, ""
    end = lead.end()
    while instruction := _INSTRUCTION.match(text, end):
        end = instruction.end()
    return text[:end].strip(), text[end:].strip()


def split_follow_up(answer: str) -> tuple[str, SubPrompt | None]:
    """Split off the first follow-up prompt inside an answer, as a sub-prompt.
    Only the first: later ones are usually the agency repeating the pattern
    in a list of its own, not the form asking again."""
    m = _FOLLOW_UP.search(answer)
    if m is None:
        return answer, None
    return answer[: m.start()].strip(), SubPrompt(m.group(1), answer[m.end():].strip())


# -- the form ------------------------------------------------------------------

class _FormBuilder:
    def __init__(self) -> None:
        self.categories: list[Category] = []
        self.item: Item | None = None
        self.draft: _Draft | None = None

    def feed(self, piece: _Piece) -> None:
        text = piece.text
        digits = text.translate(_THAI_DIGITS)  # same length, so spans match `text`
        if m := _CATEGORY.match(digits):
            self._close_criterion()
            self._category(int(m.group(1)), text[m.start(2):].strip(), piece)
        elif self.categories and _is_choice(text):
            self._close_criterion()
            if self.item is not None:
                self.item.choices.append(text)
        elif self.categories and (m := _CRITERION.match(digits)):
            self._close_criterion()
            self._criterion(m, text[m.start(4):].strip(), piece)
        elif (m := _ITEM.match(digits)) and self._is_next_item(int(m.group(1)), int(m.group(2))):
            self._close_criterion()
            code = f"{m.group(1)}.{m.group(2)}"
            self.item = Item(code, text[m.start(3):].strip())
            self.categories[-1].items.append(self.item)
        elif self.draft is not None:
            self.draft.add(piece)
        # Anything else (the form's introduction, notes between items) is not catalogue text.

    def _category(self, number: int, title: str, piece: _Piece) -> None:
        expected = len(self.categories) + 1
        if number != expected:
            raise FormParseError(f"line {piece.line}: found หมวด {number} where หมวด {expected} was expected")
        self.categories.append(Category(number, title))
        self.item = None

    def _is_next_item(self, category: int, number: int) -> bool:
        # Anything else that looks like "2.5 ล้านบาท" at the start of a line is answer text.
        if not self.categories or category != self.categories[-1].number:
            return False
        return number == len(self.categories[-1].items) + 1

    def _criterion(self, m: re.Match, text: str, piece: _Piece) -> None:
        item_code, code = f"{m.group(1)}.{m.group(2)}", f"{m.group(1)}.{m.group(2)}.{m.group(3)}"
        if self.item is None or self.item.code != item_code:
            where = f"item {self.item.code}" if self.item else "หมวด " + str(self.categories[-1].number)
            raise FormParseError(
                f"line {piece.line}: criterion {code} appears under {where} (missing item heading?)"
            )
        expected = f"{item_code}.{len(self.item.criteria) + 1}"
        if code != expected:
            raise FormParseError(f"line {piece.line}: found criterion {code} where {expected} was expected")
        head = _Node(text, checked=bool(piece.box))
        self.draft = _Draft(code, item_code, self.item.category, head)

    def _close_criterion(self) -> None:
        if self.draft is not None and self.item is not None:
            self.item.criteria.append(self.draft.finish())
        self.draft = None

    def catalogue(self) -> Catalogue:
        self._close_criterion()
        if not self.categories:
            raise FormParseError("no category heading ('หมวด 1 …') found: is this แบบฟอร์มที่ 3?")
        for cat in self.categories:
            if not cat.items:
                raise FormParseError(f"หมวด {cat.number} has no items ('{cat.number}.1 …')")
            for item in cat.items:
                if not item.criteria:
                    raise FormParseError(f"item {item.code} has no criteria ('{item.code}.1 …')")
        return Catalogue(self.categories)


def _is_choice(text: str) -> bool:
    # Spelling varies between items (ยังไม่มีผลการ…, ยังไม่มีการ…, ยังไม่มีมีการ…).
    return len(text) <= 80 and "ดำเนินการ" in text and text.startswith(("ยังไม่มี", "อยู่ในระหว่าง"))


def parse_lines(lines: Iterable[str]) -> Catalogue:
    builder = _FormBuilder()
    for piece in _pieces(lines):
        builder.feed(piece)
    return builder.catalogue()


def parse_text(text: str) -> Catalogue:
    """Parse the form from its text (plain lines, tabs and HTML fragments)."""
    if not text or not text.strip():
        raise FormParseError("the form text is empty")
    return parse_lines(text.splitlines())


# -- DOCX ----------------------------------------------------------------------
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# Wingdings code points Word uses for tick boxes inserted as symbols.
_SYMBOL_BOXES = {"F0A8": UNCHECKED, "F06F": UNCHECKED, "F0FE": CHECKED, "F078": CHECKED, "F0FD": CHECKED}


def parse_docx(path: str | Path) -> Catalogue:
    """Parse the form from a DOCX: paragraphs and table rows in document order
    (a row's cells joined by tabs, like the text form), then as `parse_text`."""
    import docx  # python-docx; imported here so text parsing never needs it

    path = Path(path)
    if not path.is_file():
        raise FormParseError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise FormParseError(f"{path}: not a DOCX file (a DOCX is a zip archive, this is not)")
    try:
        document = docx.Document(str(path))
    except Exception as err:  # python-docx raises several unrelated types for broken packages
        raise FormParseError(f"{path}: cannot open as DOCX ({err})") from err
    lines: list[str] = []
    for block in _blocks(document.element.body):
        # Only an empty paragraph is a blank line (a possible page break);
        # line breaks inside a paragraph just separate its pieces.
        lines.extend([part for part in block.split("\n") if part.strip()] or [""])
    if not any(lines):
        raise FormParseError(f"{path}: the document has no text")
    return parse_lines(lines)


def _blocks(container) -> Iterator[str]:
    """Text of each paragraph / table row directly inside `container`, in order."""
    for child in container.iterchildren():
        if child.tag == _W + "p":
            yield _paragraph_text(child)
        elif child.tag == _W + "tbl":
            for row in child.iterchildren(_W + "tr"):
                cells = [("\n".join(_blocks(tc))).strip() for tc in row.iterchildren(_W + "tc")]
                line = "\t".join(cells)
                if line.strip():  # an empty row is layout, not a page break
                    yield line
        elif child.tag == _W + "sdt":  # block-level content control
            content = child.find(_W + "sdtContent")
            if content is not None:
                yield from _blocks(content)


def _paragraph_text(p) -> str:
    # Walk every run, including those inside hyperlinks, fields and content
    # controls, which python-docx's Paragraph.text skips.
    out = []
    for el in p.iter():
        tag = el.tag
        if tag == _W + "t":
            out.append(el.text or "")
        elif tag == _W + "tab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "sym":
            out.append(_SYMBOL_BOXES.get((el.get(_W + "char") or "").upper(), ""))
        elif tag == _W + "checkBox":  # legacy form field
            ticked = el.find(_W + "checked")
            if ticked is None:
                ticked = el.find(_W + "default")
            on = ticked is not None and ticked.get(_W + "val", "1") not in ("0", "false")
            out.append(CHECKED if on else UNCHECKED)
    return "".join(out)


def parse_file(path: str | Path) -> Catalogue:
    """Parse a form file, by extension: .docx, or text (.txt .html .htm .md)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return parse_docx(path)
    if suffix in {".txt", ".html", ".htm", ".md", ""}:
        if not path.is_file():
            raise FormParseError(f"{path}: no such file")
        return parse_text(path.read_text(encoding="utf-8-sig"))
    raise FormParseError(f"{path}: unsupported form format {suffix!r} (use .docx or .txt)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb.formparse", description=__doc__.splitlines()[0])
    parser.add_argument("form", type=Path, help="the filled-in form (.txt/.html text or .docx)")
    parser.add_argument("--out", type=Path, help="write the catalogue JSON here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        catalogue = parse_file(args.form)
    except FormParseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    text = catalogue.to_json()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    n_cat, n_items, n_crit = len(catalogue.categories), len(catalogue.items()), len(catalogue.criteria())
    where = f" -> {args.out}" if args.out else ""
    print(f"{args.form.name}: {n_cat} categories, {n_items} items, {n_crit} criteria{where}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
