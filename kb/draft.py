"""Drafting: a criterion's evidence → the form's narrative answer, every sentence cited.

    draft_criterion(kb, "3.4.3") -> Draft          (= draft(criterion, build_bundle(kb, criterion)))

Real answers in แบบฟอร์มที่ 3 are short enumerations of named initiatives, systems and
figures after the criterion's own stem ("… คือ 1. … 2. …"), so that is what is written:
the stem, then a numbered list, grouped by sub-prompt when the form asks in parts. Two
drafters fill the list — the default extractive one (kb.extract, no model, deterministic)
and an optional LLM (kb.llm) — and the same verifier (kb.verify) then judges every sentence
of either. When the evidence does not support the criterion the draft abstains: it says so,
offers the form's own choices and lists the evidence that would be needed.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from kb import params, scoring
from kb.prompts import evidence_hints, template
from kb.verify import SUPPORTED, UNCITED, check_sentence, known_names

DRAFTERS = ("extractive", "llm")

# A form lead-in the stem may already end with; otherwise " คือ" is added.
_LEAD_END = re.compile(r"(?:คือ|ได้แก่|เช่น|โดย(?:วิธีการ|วิธี)?|ดังนี้|พอสังเขป|ระบุ)\s*:?$")
# Instructions to the agency inside the wording: part of the form, not of the answer.
_INSTRUCTION = re.compile(r"\s*\((?:[^()]*(?:ระบุ|ตอบ|อย่างน้อย|กรณี|กรุณา|โปรด))[^()]*\)")


@dataclass
class DraftSentence:
    text: str                                   # without the [n] markers
    citations: list[int] = field(default_factory=list)
    verdict: str = UNCITED                      # supported | unsupported | uncited
    problems: list[str] = field(default_factory=list)
    group: str | None = None                    # the sub-prompt it answers, if any
    unsupported_facts: list[str] = field(default_factory=list)

    def cited_text(self) -> str:
        return self.text + " " + "".join(f"[{n}]" for n in self.citations) if self.citations else self.text


@dataclass
class Source:
    n: int
    chunk_id: str
    file_name: str
    where: str
    passage: str
    fiscal_year: int | None = None
    other_year: bool = False                    # not the fiscal year being assessed


@dataclass
class Draft:
    code: str
    text: str
    sentences: list[DraftSentence] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    abstained: bool = False
    previous_answer: str | None = None
    warnings: list[str] = field(default_factory=list)
    drafter: str = "extractive"
    year: int | None = None                     # fiscal year assessed (พ.ศ.)
    support: float = 0.0                        # abstention signals (see kb.extract.should_abstain):
    closeness: float | None = None              # lexical support, and the embedding model's closeness
    choices: list[str] = field(default_factory=list)   # offered when abstaining
    needed: list[str] = field(default_factory=list)    # evidence that would be needed
    previous_year: int | None = None

    def counts(self) -> dict[str, int]:
        out = {"supported": 0, "unsupported": 0, "uncited": 0}
        for s in self.sentences:
            out[s.verdict] = out.get(s.verdict, 0) + 1
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["verdicts"] = self.counts()
        return d


# --- the entry points -------------------------------------------------------------------------

def draft_criterion(kb, code: str, accepted_chunk_ids: list[str] | None = None,
                    drafter: str = "extractive", year: int | None = None, llm_settings=None) -> Draft:
    """Draft one criterion from the store: its evidence bundle (kb.bundle), then `draft`.
    `accepted_chunk_ids`: the evidence a reviewer accepted (used as is, in that order); None:
    the top suggestions of kb.evidence. `year`: the fiscal year (พ.ศ.) assessed, default
    `KnowledgeBase.assessment_year`. Raises KeyError for an unknown code, ValueError for an
    unknown drafter, kb.llm.LLMError when the LLM cannot be reached."""
    from kb.bundle import build_bundle
    if drafter not in DRAFTERS:
        raise ValueError(f"unknown drafter {drafter!r} (use {' or '.join(DRAFTERS)})")
    criterion = kb.catalogue.get(code)
    return draft(criterion, build_bundle(kb, criterion, accepted_chunk_ids, year), drafter, llm_settings)


def draft(criterion, bundle, drafter: str = "extractive", llm_settings=None,
          candidates: list | None = None) -> Draft:
    """The draft of one criterion from its evidence bundle and the params in force: calls
    neither the store nor the retriever (the LLM drafter calls its model). `candidates`:
    extract.from_bundle(criterion, bundle) made beforehand under the same params (a benchmark
    that drafts one bundle under many selection values makes them once)."""
    from kb import extract
    if drafter not in DRAFTERS:
        raise ValueError(f"unknown drafter {drafter!r} (use {' or '.join(DRAFTERS)})")
    warnings = list(bundle.warnings)
    passages, weights = bundle.passages, bundle.weights
    for hit in passages:
        if extract.INJECTION.search(hit.text):
            warnings.append(f"{hit.where()} มีข้อความลักษณะสั่งงานโปรแกรม: "
                            "ถือเป็นข้อมูลเท่านั้น ไม่นำประโยคนั้นมาใช้")
    if candidates is None:
        candidates = extract.from_bundle(criterion, bundle)
    scoring.rescore(candidates, criterion, bundle.passage_closeness)   # learned, when params has it
    support = extract.support(criterion, candidates, weights)
    near = bundle.closeness
    out = Draft(code=criterion.code, text="", drafter=drafter, year=bundle.year, support=round(support, 4),
                closeness=None if near is None else round(near, 4))
    if not candidates or (not bundle.accepted and extract.should_abstain(support, near, bundle.model,
                                                                         candidates)):
        _abstain(out, criterion, warnings)
    elif drafter == "llm":
        from kb import llmdraft
        items, sources, notes = llmdraft.draft_items(criterion, passages, llm_settings)
        warnings.extend(notes)
        if items is None:                     # the model itself found no evidence
            _abstain(out, criterion, warnings)
        elif not items:                       # nothing usable came back: say so, draft without it
            warnings.append("ผลจากแบบจำลองภาษาไม่อยู่ในรูปแบบที่กำหนด จึงใช้ร่างแบบคัดข้อความจากหลักฐานแทน")
            out.drafter = "extractive"
            _fill(out, criterion, *extract.select(criterion, candidates))
        else:
            _fill(out, criterion, items, sources)
    else:
        _fill(out, criterion, *cite_neighbours(*extract.select(criterion, candidates), bundle.neighbours))
    _mark_years(out, bundle.year, warnings)
    _previous(out, bundle.previous, bundle.year, warnings)
    out.warnings = warnings
    return out


def cite_neighbours(items, by_key, neighbours):
    """An extracted item whose names or figures its chunk does not hold spans two chunks
    (the chunker cut the sentence): it then cites the neighbouring chunk too, when that one
    holds the rest, instead of being flagged for a fact that is in the document.
    `neighbours`: chunk id → the chunks after and before it."""
    out = []
    for group, text, keys in items:
        sources = {i: by_key[k].text for i, k in enumerate(keys, 1) if k in by_key}
        if len(keys) != 1 or check_sentence(text, list(sources), sources,
                                            known_names(list(sources.values()))).verdict == SUPPORTED:
            out.append((group, text, keys))
            continue
        for hit in neighbours.get(keys[0], []):
            trial = dict(sources)
            trial[len(trial) + 1] = hit.text
            if check_sentence(text, list(trial), trial, known_names(list(trial.values()))).verdict == SUPPORTED:
                by_key.setdefault(hit.chunk_id, hit)
                keys = keys + [hit.chunk_id]
                break
        out.append((group, text, keys))
    return out, by_key


# --- writing the draft ------------------------------------------------------------------------

def stem(text: str) -> str:
    """The form's own wording as the opening of the answer, ending in a lead-in word."""
    text = " ".join(_INSTRUCTION.sub("", text).split()).rstrip(" :")
    return text if _LEAD_END.search(text) else text + " คือ"


def _fill(draft: Draft, criterion, items, passages_by_source) -> None:
    """Verify the items, number the sources in order of first use, and write the text.

    `items`: (group, text, [source keys]); `passages_by_source`: key → Hit.
    """
    order: dict = {}
    for _, _, keys in items:
        for key in keys:
            if key in passages_by_source and key not in order:
                order[key] = len(order) + 1
    draft.sources = [_source(order[key], passages_by_source[key]) for key in order]
    by_n = {s.n: s.passage for s in draft.sources}
    known = known_names(list(by_n.values()))
    for group, text, keys in items:
        # keys the drafter invented (an LLM citing [9] of 5) stay as given so the verifier flags them
        cites = [order[k] if k in order else k for k in keys]
        check = check_sentence(text, cites, by_n, known)
        draft.sentences.append(DraftSentence(text, cites, check.verdict, check.problems, group,
                                             [f.text for f in check.unsupported]))
    draft.text = compose(criterion, draft.sentences)


def compose(criterion, sentences: list[DraftSentence]) -> str:
    """The narrative: stem, then numbered items, grouped by sub-prompt. A sentence the
    verifier did not accept is kept and marked, so the writer sees it, never loses it."""
    lines = [stem(criterion.wording)]
    general = [s for s in sentences if not s.group]
    lines += _numbered(general, indent="")
    for sp in criterion.subprompts:
        mine = [s for s in sentences if s.group == sp.label]
        lines.append(f"- {stem(sp.label)}")
        lines += _numbered(mine, indent="  ") or ["  (ยังไม่พบหลักฐานสำหรับประเด็นนี้)"]
    return "\n".join(lines)


def _numbered(sentences, indent: str) -> list[str]:
    out = []
    for i, s in enumerate(sentences, 1):
        flag = "" if s.verdict == SUPPORTED else " ⚠ (ต้องตรวจสอบ)"
        out.append(f"{indent}{i}. {s.cited_text()}{flag}")
    return out


def _source(n: int, hit) -> Source:
    return Source(n=n, chunk_id=hit.chunk_id, file_name=hit.file_name, where=hit.where(),
                  passage=hit.text, fiscal_year=hit.fiscal_year)


def _mark_years(draft: Draft, year: int | None, warnings: list[str]) -> None:
    if year is None:
        return
    for s in draft.sources:
        if s.fiscal_year and s.fiscal_year != year:
            s.other_year = True
            warnings.append(f"แหล่งที่ [{s.n}] {s.file_name} เป็นเอกสารปี พ.ศ. {s.fiscal_year} "
                            f"ไม่ใช่ปีที่ประเมิน ({year})")


def _previous(draft: Draft, answer, year: int | None, warnings: list[str]) -> None:
    from kb.previous import staleness
    if answer is None:
        return
    draft.previous_answer = answer.answer or "☑ (ทำเครื่องหมายไว้ ไม่มีคำบรรยาย)"
    draft.previous_year = answer.year
    warnings.extend(staleness(answer, year))


# --- abstaining -------------------------------------------------------------------------------

def _abstain(draft: Draft, criterion, warnings: list[str]) -> None:
    draft.abstained = True
    draft.sentences, draft.sources = [], []
    item = criterion.item
    draft.choices = list(item.choices) if item and item.choices else [
        "ยังไม่มีผลการดำเนินการในเรื่องดังกล่าว", "อยู่ในระหว่างดำเนินการ"]
    draft.needed = needed_evidence(criterion)
    body = template("abstain.txt").safe_substitute(
        item_code=criterion.item_code,
        choices="\n".join(f"☐ {c}" for c in draft.choices),
        needed="\n".join(f"- {n}" for n in draft.needed))
    draft.text = stem(criterion.wording) + "\n" + body.strip()


def needed_evidence(criterion) -> list[str]:
    """What would show the criterion is met: the wording restated as a document to find,
    one line per sub-prompt, then hints keyed by words in the wording (prompts/evidence-hints.tsv)."""
    ask = _LEAD_END.sub("", " ".join(_INSTRUCTION.sub("", criterion.wording).split())).strip()
    out = [f"เอกสารที่แสดงว่า{ask} พร้อมชื่อโครงการ/ระบบ ผู้รับผิดชอบ และผลที่เกิดขึ้นในปีที่ประเมิน"]
    for sp in criterion.subprompts:
        out.append(f"หลักฐานสำหรับประเด็น “{_LEAD_END.sub('', sp.label).strip()}”")
    text = " ".join([criterion.wording, *(sp.label for sp in criterion.subprompts)])
    hints = [hint for word, hint in evidence_hints() if word in text]
    out.extend(dict.fromkeys(hints[:4]))
    return out


# --- text for people (CLI, Markdown export) ---------------------------------------------------

_MARK = {"supported": "✓", "unsupported": "✗", "uncited": "?"}


def format_draft(draft: Draft, criterion=None, markdown: bool = False) -> str:
    head = f"{draft.code} {criterion.item.title if criterion and criterion.item else ''}".strip()
    lines = [f"## {head}" if markdown else head, ""]
    lines.append(draft.text)
    if draft.sentences:
        lines += ["", "ผลการตรวจสอบ:" if not markdown else "**ผลการตรวจสอบ**", ""]
        for i, s in enumerate(draft.sentences, 1):
            lines.append(f"- {_MARK.get(s.verdict, '?')} {s.verdict}: {thai_short(s.text, 80)}")
            lines += [f"    - {p}" for p in s.problems]
    if draft.sources:
        lines += ["", "แหล่งข้อมูล:" if not markdown else "**แหล่งข้อมูล**", ""]
        for s in draft.sources:
            year = f" · พ.ศ. {s.fiscal_year}" if s.fiscal_year else ""
            other = " (คนละปีกับปีที่ประเมิน)" if s.other_year else ""
            lines.append(f"[{s.n}] {s.where}{year}{other}")
            lines.append(f"    {thai_short(' '.join(s.passage.split()), 300)}")
    if draft.previous_answer:
        lines += ["", f"คำตอบปีก่อน (พ.ศ. {draft.previous_year or '?'}):" if not markdown
                  else f"**คำตอบปีก่อน (พ.ศ. {draft.previous_year or '?'})**", ""]
        lines += [f"    {line}" for line in draft.previous_answer.splitlines()]
    if draft.warnings:
        lines += ["", "ข้อควรระวัง:" if not markdown else "**ข้อควรระวัง**", ""]
        lines += [f"- {w}" for w in draft.warnings]
    return "\n".join(lines)


def thai_short(text: str, width: int) -> str:
    from kb.criteria import shorten
    return shorten(text, width)
