"""Thai text utilities: normalisation, PDF repair, tokens, sentences, fiscal years.

Two forms of every text exist in the system:
- the *display* form (`normalize`) keeps Thai digits and the original wording, for people;
- the *match* form (`match_form`) also maps Thai digits to Arabic and lower-cases, for indexes.
Both are computed by the same functions at index time and at query time, which is what makes
a query typed with ๒๕๖๔ find a table that says 2564.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# zero-width characters, and control characters some PDF producers emit after ำ (e.g. \x0b)
ZERO_WIDTH = dict.fromkeys([*map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"),
                            *(c for c in range(32) if chr(c) not in "\n\t")], None)

TONES = "\u0e48\u0e49\u0e4a\u0e4b"                      # ่ ้ ๊ ๋
ABOVE_BELOW = "\u0e31\u0e34\u0e35\u0e36\u0e37\u0e38\u0e39\u0e47"  # ั ิ ี ึ ื ุ ู ็
NIKHAHIT, SARA_AA, SARA_AM = "\u0e4d", "\u0e32", "\u0e33"
# Marks that can only follow a consonant: a space before one is always an extraction fault.
FOLLOWING = ABOVE_BELOW + TONES + "\u0e4c\u0e4d\u0e32\u0e33\u0e30\u0e45"
LEADING_VOWELS = "\u0e40\u0e41\u0e42\u0e43\u0e44"        # เ แ โ ใ ไ precede their consonant

# Legacy Thai fonts put positioned variants of marks in the private-use area (U+F700…);
# PDFs made with them extract to these code points instead of real Thai.
PUA_THAI = {
    0xF700: "\u0e10", 0xF701: "\u0e34", 0xF702: "\u0e35", 0xF703: "\u0e36", 0xF704: "\u0e37",
    0xF705: "\u0e48", 0xF706: "\u0e49", 0xF707: "\u0e4a", 0xF708: "\u0e4b", 0xF709: "\u0e4c",
    0xF70A: "\u0e48", 0xF70B: "\u0e49", 0xF70C: "\u0e4a", 0xF70D: "\u0e4b", 0xF70E: "\u0e4c",
    0xF70F: "\u0e0d", 0xF710: "\u0e31", 0xF711: "\u0e4d", 0xF712: "\u0e47", 0xF713: "\u0e48",
    0xF714: "\u0e49", 0xF715: "\u0e4a", 0xF716: "\u0e4b", 0xF717: "\u0e4c", 0xF718: "\u0e38",
    0xF719: "\u0e39", 0xF71A: "\u0e3a",
}

_SPLIT_AM = re.compile(f"{NIKHAHIT}([{TONES}]?){SARA_AA}")
_TONE_BEFORE_VOWEL = re.compile(f"([{TONES}])([{ABOVE_BELOW}])")
_TONE_BEFORE_NIKHAHIT = re.compile(f"([{TONES}]){NIKHAHIT}{SARA_AA}")
_SPACE_BEFORE_MARK = re.compile(f"[ \t]+(?=[{FOLLOWING}])")
_SPACE_AFTER_LEADING = re.compile(f"(?<=[{LEADING_VOWELS}])[ \t]+(?=[\u0e01-\u0e2e])")
_DUP_MARK = re.compile(f"([{ABOVE_BELOW}{TONES}\u0e4c])\\1+")
_SPACES = re.compile(r"[ \t\u00a0\u3000]+")
_THAI = re.compile(r"[\u0e00-\u0e7f]")


def normalize(text: str) -> str:
    """Display form: NFC, no zero-width characters, ำ whole, marks in canonical order.

    NFKC is deliberately not used: it decomposes ำ into ํ + า, which breaks matching.
    """
    text = unicodedata.normalize("NFC", text).translate(ZERO_WIDTH).translate(PUA_THAI)
    text = _SPLIT_AM.sub(lambda m: m.group(1) + SARA_AM, text)        # ก ํ ่ า -> ก่ำ
    text = _TONE_BEFORE_NIKHAHIT.sub(lambda m: m.group(1) + SARA_AM, text)
    text = _TONE_BEFORE_VOWEL.sub(r"\2\1", text)                    # tone mark goes last
    text = _DUP_MARK.sub(r"\1", text)
    text = _SPACE_BEFORE_MARK.sub("", text)
    text = _SPACE_AFTER_LEADING.sub("", text)
    text = _SPACES.sub(" ", text)
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def match_form(text: str) -> str:
    """Index/query form: display form with Thai digits as Arabic, lower-cased."""
    return normalize(text).translate(THAI_DIGITS).lower()


def to_arabic_digits(text: str) -> str:
    return text.translate(THAI_DIGITS)


# --- PDF repair -------------------------------------------------------------------------------

_GAP = re.compile(r"(?<=[\u0e01-\u0e4e]) (?=[\u0e01-\u0e4e])")


def spaced_ratio(text: str) -> float:
    """Spaces between two Thai characters per Thai character.

    Normal Thai prose puts a space only between phrases (about one per 20–40 characters);
    text extracted from some PDFs has a space every few characters, inside words.
    """
    thai = len(_THAI.findall(text))
    return len(_GAP.findall(text)) / thai if thai else 0.0


def repair_pdf_text(text: str) -> str:
    """Undo common PDF extraction faults, then normalise.

    On a line spaced like broken extraction every space between two Thai characters is
    dropped: phrase spaces cannot be told from broken ones there, and a lost phrase space
    costs nothing to the tokenizer while a broken word costs recall.
    """
    text = normalize(text)
    return "\n".join(_GAP.sub("", line) if spaced_ratio(line) > 0.12 else line
                     for line in text.splitlines())


def looks_garbled(text: str) -> bool:
    """True when extracted text is probably not readable Thai (needs repair or OCR)."""
    if not text.strip():
        return True
    pua = sum(1 for ch in text if 0xE000 <= ord(ch) <= 0xF8FF)
    replacement = text.count("\ufffd")
    return (pua + replacement) / len(text) > 0.02 or spaced_ratio(normalize(text)) > 0.25


# --- tokens and sentences ---------------------------------------------------------------------

_PUNCT_ONLY = re.compile(r"^[\W_]+$")


def words_of(text: str) -> list[str]:
    """newmm word tokens of text as given (no normalisation), without whitespace tokens."""
    from pythainlp.tokenize import word_tokenize
    return [t for t in word_tokenize(text, engine="newmm", keep_whitespace=False) if t.strip()]


_GROUPED_NUMBER = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")


def tokenize(text: str) -> list[str]:
    """Tokens for BM25 and term matching: newmm words of the match form, punctuation dropped,
    thousands separators removed (a spreadsheet cell says 4410 where prose says 4,410)."""
    return [t.replace(",", "") if _GROUPED_NUMBER.match(t) else t
            for t in words_of(match_form(text)) if not _PUNCT_ONLY.match(t)]


def char_grams(tokens: list[str], n: int = 3) -> list[str]:
    """Character n-grams of the tokens run together. Thai is written without spaces, so a
    word the segmenter cuts differently in the query and in the passage (names, loan words,
    PDF damage) still shares most of its n-grams; they also cross word boundaries, which
    rewards matching word order."""
    text = "".join(tokens)
    return [text[i:i + n] for i in range(len(text) - n + 1)]


def sentences(text: str, whole: bool = False) -> list[str]:
    """Thai sentences. Lines are hard boundaries (lists and table rows are one per line);
    long lines are split by pythainlp's CRF sentence model. `whole`: a piece that opens with
    a word no Thai sentence opens with (a relative "ที่", "ซึ่ง", a conjunction, a preposition,
    a figure) is glued back onto the piece before it, for text read as answer items, where
    a cut clause is a fragment; chunking keeps the finer split."""
    from pythainlp.tokenize import sent_tokenize
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if len(line) < 120 or not _THAI.search(line):
            out.append(line)
            continue
        parts = _merge_fragments([s.strip() for s in sent_tokenize(line, engine="crfcut")])
        out.extend(_join_continuations(parts) if whole else parts)
    return out


# Words that mostly continue a sentence rather than open one: crfcut cuts at the space before
# them ("… เผยแพร่ต่อสาธารณะ | ที่ https://…", "… จากแหล่งอื่น | ได้แก่ข้อมูล…"). Thai grammar,
# not tuned on any collection. Some do open sentences ("ที่ประชุมมีมติ", "เพื่อให้…", "ตามที่…"):
# then two sentences become one item, still verbatim text of the passage.
_CONTINUES = re.compile(
    r"^(?:ที่|ซึ่ง|และ|หรือ|ได้แก่|โดย|เพื่อ|รวมทั้ง|รวมถึง|ตลอดจน|ของ|ให้แก่|จาก|กับ|แก่|ต่อ|"
    r"ด้วย|ตาม|คือ|อาทิ|เช่น|ทั้ง|จำนวน|ร้อยละ|[0-9๐-๙])")


def _join_continuations(parts: list[str]) -> list[str]:
    out: list[str] = []
    for part in parts:
        if out and _CONTINUES.match(part):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


_ABBREV_END = re.compile(r"[\u0e01-\u0e2e]\.$")


def _merge_fragments(parts: list[str], min_len: int = 25) -> list[str]:
    """crfcut splits at spaces, so a sentence can end in 'พ.ศ.' with its year in the next
    piece, or a short label can end up alone: glue such pieces to the following one."""
    out: list[str] = []
    carry = ""
    for part in parts:
        if not part:
            continue
        part = f"{carry} {part}" if carry else part
        if len(part) < min_len or _ABBREV_END.search(part):
            carry = part
        else:
            out.append(part)
            carry = ""
    if carry:
        if out:
            out[-1] = f"{out[-1]} {carry}"
        else:
            out.append(carry)
    return out


# --- years ------------------------------------------------------------------------------------

_BE = r"(25[4-9]\d)"
_FISCAL = re.compile(r"(?:ปีงบประมาณ|ปีงบ|ประจำปี|ปี)\s*(?:พ\.\s?ศ\.\s*)?" + _BE)
_ANY_BE = re.compile(r"(?:พ\.\s?ศ\.\s*)" + _BE)
_FILE_YEAR = re.compile(r"(?<!\d)" + _BE + r"(?!\d)")


def fiscal_year(text: str, filename: str = "") -> int | None:
    """Buddhist-era fiscal year of a document: from the file name if it carries one year,
    else the most frequent 'ปีงบประมาณ/ประจำปี N', else the most frequent 'พ.ศ. N' (or the
    last year of a range in the file name)."""
    found = _FILE_YEAR.findall(to_arabic_digits(filename))
    if len(found) == 1:
        return int(found[0])
    # a plan's name often spans years (plan-2561-2565): the text says which year this copy is for
    text = to_arabic_digits(text)
    patterns = (_FISCAL,) if found else (_FISCAL, _ANY_BE)
    for pattern in patterns:
        years = Counter(pattern.findall(text))
        if years:
            return int(years.most_common(1)[0][0])
    return int(found[-1]) if found else None


@lru_cache(maxsize=1)
def _topic_stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords
    # the form's own filler words carry no topic either
    return frozenset(thai_stopwords()) | {"หน่วยงาน", "มี", "การ", "ที่", "และ", "ของ", "ท่าน", "ระบุ",
                                          "ดังนี้", "คือ", "ได้แก่", "โดย", "เช่น", "อย่างน้อย", "ด้าน", "ข้อ"}


def content_words(text: str) -> set[str]:
    """The words of a text that say what it is about: no function words, form filler or digits."""
    return {t for t in tokenize(text) if t not in _topic_stopwords() and not t.isdigit() and len(t) > 1}
