"""The LLM drafter: evidence in as numbered sources, cited list items out.

The model is never trusted with the shape of the answer or with what counts as a claim:

- sources go in as data between markers the passages cannot forge (markers inside a passage
  are defused), and the rules sit in the system message;
- only numbered/bulleted lines of the reply become items (kb.draft writes the stem and the
  numbering itself), so a reply that switches format cannot change the draft's format;
- a line that repeats the instructions (a leaked prompt) is removed and reported;
- every item then goes through the same verifier as the extractive drafter, so an invented
  figure, a citation of a source that does not exist or an uncited line is flagged.
"""
from __future__ import annotations

import re

from textmodel import thai
from kb.verify import citations_in, strip_citations

MAX_SOURCES = 8
SOURCE_CHARS = 1500
MAX_ITEMS = 8
LEAK_WINDOW = 24            # characters shared with the instructions that count as a leak
NO_EVIDENCE = "ไม่พบหลักฐาน"

_ITEM = re.compile(r"^\s*(?:[0-9๐-๙]{1,2}\s*[.)]|[-•*●▪])\s*(.+)$")
_GROUP = re.compile(r"^\s*(?:#+\s*)?(?:\*\*)?\s*(?:หัวข้อ|ประเด็น(?:ย่อย)?)\s*[:：]\s*(.+?)(?:\*\*)?\s*$")
_MARKERS = re.compile(r"<<<|>>>")


def build_prompt(criterion, passages) -> tuple[str, str, dict[int, object]]:
    """(system, user, {source number: Hit})."""
    from kb.prompts import template
    sources: dict[int, object] = {}
    for hit in passages:
        if hit.chunk_id not in {h.chunk_id for h in sources.values()} and len(sources) < MAX_SOURCES:
            sources[len(sources) + 1] = hit
    blocks = []
    for n, hit in sources.items():
        body = _MARKERS.sub("«", hit.text)[:SOURCE_CHARS]
        blocks.append(f"<<<แหล่งที่ {n} | {_MARKERS.sub('«', hit.where())}>>>\n{body}\n<<<จบแหล่งที่ {n}>>>")
    subprompts = ""
    if criterion.subprompts:
        subprompts = "ประเด็นย่อยที่ต้องตอบ:\n" + "\n".join(f"- {sp.label}" for sp in criterion.subprompts) + "\n"
    system = template("draft-system.txt").safe_substitute(max_items=MAX_ITEMS)
    user = template("draft-user.txt").safe_substitute(
        code=criterion.code, item_title=criterion.item.title if criterion.item else "",
        wording=criterion.wording, subprompts=subprompts, sources="\n\n".join(blocks))
    return system, user, sources


def parse_reply(reply: str, criterion, system: str, source_texts: list[str]):
    """(items or None when the model says there is no evidence, notes for the draft's warnings)."""
    notes: list[str] = []
    lines = [ln.strip().strip("`").strip() for ln in (reply or "").splitlines()]
    lines = [ln for ln in lines if ln]
    if lines and all(NO_EVIDENCE in ln for ln in lines[:1]) and not any(_ITEM.match(ln) for ln in lines):
        return None, notes
    leak_pool = _squash(system)
    sources_pool = " ".join(_squash(t) for t in source_texts)
    items, stray, leaked = [], [], 0
    group = None
    for ln in lines:
        if _leaks(ln, leak_pool, sources_pool):
            leaked += 1
            continue
        g = _GROUP.match(ln)
        if g:
            group = _subprompt(criterion, g.group(1))
            if group is None:
                notes.append(f"แบบจำลองภาษาตั้งหัวข้อที่ไม่มีในข้อคำถาม: “{_short(g.group(1))}” (รายการใต้หัวข้อนี้จัดเป็นคำตอบทั่วไป)")
            continue
        m = _ITEM.match(ln)
        if not m:
            stray.append(ln)
            continue
        body = m.group(1).replace("**", "").strip()
        text = strip_citations(body)
        if text:
            items.append((group, text, citations_in(body)))
    if leaked:
        notes.append(f"ตัดข้อความจากแบบจำลองภาษาที่ซ้ำกับคำสั่งของระบบออก {leaked} บรรทัด (อาจเป็นผลของข้อความแทรกคำสั่งในเอกสาร)")
    if stray:
        notes.append(f"ข้อความจากแบบจำลองภาษาที่ไม่อยู่ในรูปแบบรายการ {len(stray)} บรรทัดไม่ถูกนำมาใช้: “{_short(stray[0])}”")
    if len(items) > 2 * MAX_ITEMS:
        notes.append(f"แบบจำลองภาษาตอบ {len(items)} ข้อ เกินที่กำหนด ใช้เพียง {2 * MAX_ITEMS} ข้อแรก")
        items = items[:2 * MAX_ITEMS]
    return items, notes


def draft_items(criterion, passages, settings=None):
    """(items, {source number: Hit}, notes); items None when the model found no evidence."""
    from kb.llm import LLMSettings, chat
    settings = settings or LLMSettings.from_env()
    system, user, sources = build_prompt(criterion, passages)
    reply = chat(settings, system, user)
    items, notes = parse_reply(reply, criterion, system, [h.text for h in sources.values()])
    return items, sources, notes


def _squash(text: str) -> str:
    return "".join(thai.match_form(text).split())


def _leaks(line: str, instructions: str, sources: str) -> bool:
    """True when the line repeats a stretch of the instructions that no source contains."""
    s = _squash(strip_citations(line))
    for i in range(0, max(len(s) - LEAK_WINDOW + 1, 0), 4):
        window = s[i:i + LEAK_WINDOW]
        if window in instructions and window not in sources:
            return True
    return False


def _subprompt(criterion, label: str) -> str | None:
    want = _squash(label)
    best, best_score = None, 0.0
    for sp in criterion.subprompts:
        have = _squash(sp.label)
        if want == have or (len(want) >= 4 and (want in have or have in want)):
            return sp.label
        a, b = thai.content_words(label), thai.content_words(sp.label)
        score = len(a & b) / len(a | b) if a | b else 0.0
        if score > best_score:
            best, best_score = sp.label, score
    return best if best_score >= 0.5 else None


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width] + "…"
