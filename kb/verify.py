"""The verifier: every sentence of a draft is checked against the passages it cites.

It is the same for every drafter (extractive or LLM), because a draft is only as good as
what a reviewer can trace. A sentence is

- ``uncited`` when it carries no citation;
- ``unsupported`` when it cites a source that does not exist, or when a number or a
  name in it cannot be found in any passage it cites, or (for free text) when most of its
  words are not in those passages;
- ``supported`` otherwise.

What counts as a fact:
- numbers in Arabic or Thai digits, with thousands separators and decimals, so 4,410 ==
  ๔,๔๑๐ == 4410 and 76.80 == 76.8; a scale word after it (ล้าน, แสน …) must follow the same
  number in the passage, so "178,246 ล้านบาท" is not supported by "178,246 บาท". A Buddhist-era
  year also matches its Christian-era twin (2564 ↔ 2021). Small list enumerators ("2. …")
  are not facts.
- names: runs of Latin-script words (e-Filing, LED Queue, COVID-19, ISO 27001), quoted
  phrases, Thai programme names after a marker word (โครงการ…, ระบบ…, รางวัล…) and any
  name found in the sources (the "known names") that the sentence repeats.

Nothing here drops a sentence: the caller gets a verdict and the problems, in Thai.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from textmodel import thai

SUPPORTED, UNSUPPORTED, UNCITED = "supported", "unsupported", "uncited"

# Share of a sentence's content words that must occur in its cited passages. Extractive
# sentences score 1.0; a paraphrase by an LLM keeps most content words; a claim the
# sources never made does not.
MIN_OVERLAP = 0.5

CITATION = re.compile(r"\[\s*([0-9๐-๙]+(?:\s*[,،、]\s*[0-9๐-๙]+)*)\s*\]")
_NUMBER = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d])")
_SCALE = re.compile(r"\s*(พันล้าน|หมื่นล้าน|แสนล้าน|ล้านล้าน|ล้าน|แสน|หมื่น|พัน)")
# "1. การ…", "2) …", "… และ (5)": an enumerator inside an item, not a claim (also where a
# sentence ends on one: the passage it came from has it before its next clause)
_ENUMERATOR_AFTER = re.compile(r"[.)](?:\s|$)")
_LATIN_WORD = r"[A-Za-z][A-Za-z0-9]*(?:[-'’.&/+][A-Za-z0-9]+)*"
# words of one name; a version number belongs to it ("LED 4.0"), a count does not ("e-Filing 12,345")
_LATIN_RUN = re.compile(rf"{_LATIN_WORD}(?:[ ]+(?:{_LATIN_WORD}|\d+\.\d+(?![\d,])))*")
_URL = re.compile(r"https?://[^\s\])>\"”]+")
_QUOTED = re.compile(r"[“\"«‘]([^”\"»’\n]{2,80})[”\"»’]")
# Thai programme/system names follow a marker word and run to the next space.
_MARKED = re.compile(r"(โครงการ|ระบบ|แอปพลิเคชัน|แอพพลิเคชัน|แพลตฟอร์ม|รางวัล|หลักสูตร)([\u0e01-\u0e4f]{4,60})")
# Latin "names" that are only units or form labels, not claims
_NOT_NAMES = {"pdf", "docx", "xlsx", "csv", "html", "txt", "md", "page", "sheet"}


@dataclass(frozen=True)
class Fact:
    kind: str        # "number" | "name"
    text: str        # as written in the sentence
    key: str         # canonical form used for matching


@dataclass
class Check:
    verdict: str
    problems: list[str] = field(default_factory=list)
    unsupported: list[Fact] = field(default_factory=list)   # facts no cited passage holds
    bad_citations: list[int] = field(default_factory=list)  # cited numbers with no source


# --- canonical forms --------------------------------------------------------------------------

def _canon_number(whole: str, frac: str | None) -> str:
    try:
        value = Decimal(whole.replace(",", "") + (frac or ""))
    except InvalidOperation:
        return whole
    # 76.80 and 76.8 are the same figure; 2,140 and 2140 too
    text = format(value.normalize(), "f")
    return text


def _squash(text: str) -> str:
    """Match form without whitespace: Thai has no word spaces, so a phrase may be spaced
    differently in a paraphrase and in the source."""
    return re.sub(r"\s+", "", thai.match_form(text))


def _latin_words(text: str) -> list[str]:
    return [re.sub(r"[^a-z0-9]", "", w.lower()) for w in text.split()]


def strip_citations(text: str) -> str:
    return " ".join(CITATION.sub(" ", text).split())


def citations_in(text: str) -> list[int]:
    out: list[int] = []
    for m in CITATION.finditer(text):
        for part in re.split(r"[,،、]", m.group(1)):
            n = int(thai.to_arabic_digits(part.strip()))
            if n not in out:
                out.append(n)
    return out


# --- facts ------------------------------------------------------------------------------------

def numbers(text: str) -> list[Fact]:
    text = thai.to_arabic_digits(strip_citations(text))
    out = []
    for m in _NUMBER.finditer(text):
        whole, frac = m.group(1), m.group(2)
        after = text[m.end():m.end() + 2]
        if frac is None and int(whole.replace(",", "")) <= 30 and _ENUMERATOR_AFTER.match(after):
            continue
        scale = _SCALE.match(text, m.end())
        key = _canon_number(whole, frac) + ("×" + scale.group(1) if scale else "")
        out.append(Fact("number", m.group(0) + (scale.group(0) if scale else ""), key))
    return out


def names(text: str, known: frozenset[str] = frozenset()) -> list[Fact]:
    text = strip_citations(thai.normalize(text))
    out: dict[str, Fact] = {}
    for m in _URL.finditer(text):
        out.setdefault("url:" + m.group(0).lower(), Fact("name", m.group(0), "url:" + m.group(0).lower()))
    rest = _URL.sub(" ", text)
    for m in _LATIN_RUN.finditer(rest):
        words = [w for w in _latin_words(m.group(0)) if w]
        if not words or (len(words) == 1 and words[0] in _NOT_NAMES):
            continue
        key = "latin:" + " ".join(words)
        out.setdefault(key, Fact("name", m.group(0), key))
    for m in _QUOTED.finditer(rest):
        key = "thai:" + _squash(m.group(1))
        out.setdefault(key, Fact("name", m.group(1), key))
    for m in _MARKED.finditer(rest):
        key = "thai:" + _squash(m.group(0))
        out.setdefault(key, Fact("name", m.group(0), key))
    squashed = _squash(rest)
    for name in known:
        if name in squashed and "thai:" + name not in out:
            out["thai:" + name] = Fact("name", name, "thai:" + name)
    # a name inside a longer one found here is checked by the longer one
    keys = list(out)
    for k in keys:
        if k.startswith("thai:") and any(o != k and o.startswith("thai:") and k[5:] in o[5:] for o in keys):
            out.pop(k, None)
    return list(out.values())


def known_names(passages: list[str]) -> frozenset[str]:
    """Thai names the sources themselves mark as names (quoted, or after a marker word):
    a sentence that repeats one must cite a passage holding it."""
    found = set()
    for p in passages:
        p = thai.normalize(p)
        found.update(_squash(m.group(1)) for m in _QUOTED.finditer(p) if not _LATIN_RUN.fullmatch(m.group(1)))
        found.update(_squash(m.group(0)) for m in _MARKED.finditer(p))
    return frozenset(n for n in found if len(n) >= 6)


# --- passages ---------------------------------------------------------------------------------

@dataclass
class _Passage:
    numbers: set[str]
    latin: list[list[str]]
    squashed: str
    tokens: set[str]


@lru_cache(maxsize=4096)
def _passage(text: str) -> _Passage:
    nums = set()
    for f in numbers(text):
        nums.add(f.key)
        nums.add(f.key.split("×")[0])          # a bare number is supported by a scaled one
        base = f.key.split("×")[0]
        if base.isdigit() and 2400 <= int(base) <= 2700:
            nums.add(str(int(base) - 543))    # พ.ศ. ↔ ค.ศ.
        elif base.isdigit() and 1900 <= int(base) <= 2150:
            nums.add(str(int(base) + 543))
    norm = thai.normalize(text)
    # a PDF breaks lines at the page width, also inside a name ("Service\nAgility Fairness"):
    # the runs of Latin words are read across line breaks, as the drafter reads the sentence
    flat = " ".join(_URL.sub(" ", norm).split())
    latin = [[w for w in _latin_words(m.group(0)) if w] for m in _LATIN_RUN.finditer(flat)]
    # URLs too, as whole strings
    return _Passage(nums, latin, _squash(norm) + " " + " ".join(u.lower() for u in _URL.findall(norm)),
                    set(thai.tokenize(norm)))


def _has_run(runs: list[list[str]], words: list[str]) -> bool:
    n = len(words)
    return any(run[i:i + n] == words for run in runs for i in range(len(run) - n + 1))


def _supported(fact: Fact, passage: _Passage) -> bool:
    if fact.kind == "number":
        return fact.key in passage.numbers
    kind, _, key = fact.key.partition(":")
    if kind == "latin":
        return _has_run(passage.latin, key.split())
    if kind == "url":
        return key in passage.squashed
    return key in passage.squashed


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords
    return frozenset(thai_stopwords())


def overlap(sentence: str, passages: list[str]) -> float:
    """Share of the sentence's content words found in the passages (1.0 with no content words)."""
    words = {t for t in thai.tokenize(strip_citations(sentence))
             if t not in _stopwords() and not t.isdigit()}
    if not words:
        return 1.0
    pool: set[str] = set()
    for p in passages:
        pool |= _passage(p).tokens
    return len(words & pool) / len(words)


# --- the check --------------------------------------------------------------------------------

def check_sentence(text: str, citations: list[int], sources: dict[int, str],
                   known: frozenset[str] = frozenset(), min_overlap: float | None = MIN_OVERLAP) -> Check:
    """Verdict for one sentence. `sources` maps citation number → passage text;
    `min_overlap=None` skips the word-overlap test (for verbatim extracts)."""
    problems: list[str] = []
    bad = [n for n in citations if n not in sources]
    for n in bad:
        problems.append(f"อ้างแหล่งที่ [{n}] ซึ่งไม่มีอยู่ในรายการแหล่งข้อมูล")
    cited = [sources[n] for n in citations if n in sources]
    parsed = [_passage(p) for p in cited]
    facts = numbers(text) + names(text, known)
    missing = [f for f in facts if not any(_supported(f, p) for p in parsed)]
    where = "แหล่งที่อ้าง " + " ".join(f"[{n}]" for n in citations if n in sources) if cited else "แหล่งใด"
    for f in missing:
        what = "ตัวเลข" if f.kind == "number" else "ชื่อ"
        problems.append(f"{what} “{f.text}” ไม่พบใน{where}")
    if cited and min_overlap is not None and not missing:
        share = overlap(text, cited)
        if share < min_overlap:
            problems.append(f"ถ้อยคำส่วนใหญ่ไม่พบใน{where} (พบ {share:.0%})")
    if not citations:
        verdict = UNCITED
        problems.insert(0, "ประโยคนี้ไม่มีการอ้างอิงแหล่งข้อมูล")
    elif problems:
        verdict = UNSUPPORTED
    else:
        verdict = SUPPORTED
    return Check(verdict, problems, missing, bad)
