"""The extractive drafter: no model, deterministic, fast.

From the passages of a criterion's evidence it picks the sentences that answer the
criterion (and each of its sub-prompts), drops near-duplicates and boilerplate, and returns
them as items for kb.draft to number, cite and verify. Every item is text taken from one
passage (a sentence, a trimmed sentence, or a few cells of a table row), so whatever it
states is in the passage it cites.

Scoring is lexical on purpose: a sentence is worth as much as the criterion's words it
carries, weighted by how rare they are in the store (idf), plus what its context says —
the heading it sits under and the lead-in sentence of the list it belongs to ("… ได้แก่")
— because the concrete items of a list rarely repeat the abstract words of the criterion.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from kb import params, scoring
from textmodel import thai

# Every tuned value (counts, caps, weights, abstention thresholds) is in kb/data/params.toml,
# read through kb.params; see there for what each does and how it was chosen.


def _p():
    return params.active().draft


_LEAD_END = re.compile(r"(?:คือ|ได้แก่|ดังนี้|ประกอบด้วย|เช่น|ดังต่อไปนี้|:)\s*$")
_LIST_MARK = re.compile(r"^\s*(?:[-–•*●▪]+|#+|\(?[0-9๐-๙]{1,2}[.)](?![0-9๐-๙])|[ก-ฮ][.)])\s*(?=\S)")
# a numbered clause "๑.๑ ให้ …", "2.4.1 …": the number is the document's, not part of the answer
_CLAUSE_NO = re.compile(r"^[0-9๐-๙]{1,2}(?:\.[0-9๐-๙]{1,2})+\.?\s*(?=[\u0e01-\u0e4fA-Za-z])")
_CONNECTIVE = re.compile(r"^(?:ทั้งนี้|นอกจากนี้|นอกจากนั้น|อนึ่ง|ดังนั้น|จึง|ซึ่ง|และ|โดยสรุป|สรุปได้ว่า|ส่วน)\s*")
_TRAILING = re.compile(r"\s*(?:ดังนี้|ดังต่อไปนี้|ได้แก่|คือ)\s*:?$")
# Lines that are never an answer: letterhead, signatures, dates alone, page furniture.
_FURNITURE = re.compile(
    r"^(?:ประกาศ ณ วันที่|ลงชื่อ|\(ลงชื่อ\)|สั่ง ณ วันที่|หน้า\s*[0-9๐-๙]+|เผยแพร่เมื่อ|สงวนลิขสิทธิ์|"
    r"โทร\.?|โทรศัพท์\s*[0-9๐-๙]|ที่ยธ|\(?นาย|\(?นาง|อธิบดีกรม\S*$|รองอธิบดี\S*$)")
# Text that talks to a model rather than to a reader: a document trying to steer a drafter.
INJECTION = re.compile(
    r"ignore (?:all |any )?(?:the )?(?:previous|above|prior) (?:instructions?|prompts?)|"
    r"disregard (?:the |all )?(?:previous|above)|system prompt|you are now|"
    r"(?:ไม่ต้อง|อย่า)(?:สนใจ|ทำตาม)คำสั่ง|ละเว้นคำสั่ง|เพิกเฉยต่อคำสั่ง|คำสั่งก่อนหน้า|คำสั่งข้างต้น", re.I)
_ROW_CELL = re.compile(r"^([^:|]{1,80}):\s*(.+)$")


@dataclass
class Candidate:
    text: str
    tokens: frozenset[str]
    hit: object                 # kb.retrieve.Hit
    doc_rank: int
    order: tuple[int, int]      # (passage index, line index): document order for the output
    rel: float = 0.0            # share of the criterion's weighted words it carries
    ctx: float = 0.0            # the same for its heading / the lead-in of its list
    ctx_text: str = ""          # its heading and list lead-in, squashed (for sub-prompt labels)
    group: tuple | None = None  # the list or table it belongs to (its siblings answer alike)
    single: bool = True         # one sentence (False: a pair of neighbouring sentences)
    score: float = 0.0
    concrete: bool = False      # names a figure, a system, a programme
    names: frozenset = frozenset()  # the names and figures it states
    whole_list: bool = False    # a short list joined into one item (answers the criterion, not one part)
    prel: float = 0.0           # what its passage as a whole says for it (passage_weight × coverage)
    hand: float = 0.0           # the hand-set score, when kb.scoring replaced it by the learned one
    generic: float = 0.0        # share of the other criteria it answers as well (damp_generic)
    previous: int = 0           # names it shares with last year's answer (favour_named)
    corroborated: int = 0       # its names that other evidence documents state too (corroborate)


# --- criterion words ----------------------------------------------------------------------------

def squash(text: str) -> str:
    return "".join(thai.match_form(text).split())


def damp_generic(cands: list["Candidate"], weights: dict[str, float],
                 others: list[dict[str, float]]) -> None:
    """Lower the score of a sentence that carries the words of many other criteria as well as
    it carries this one's (generic_damp): a process report's summary line can be the best
    item of ten criteria, and is the answer to none of them. `others`: the word weights of
    the other criteria of the form."""
    damp = _p().generic_damp
    if not damp or not others:
        return
    totals = [sum(w.values()) or 1.0 for w in others]
    for c in cands:
        mine = _coverage(c.tokens, weights)
        if mine <= 0:
            continue
        as_good = sum(1 for w, total in zip(others, totals)
                      if sum(w.get(t, 0.0) for t in c.tokens) / total >= mine)
        c.generic = as_good / len(others)
        c.score /= 1 + damp * c.generic


def favour_named(cands: list["Candidate"], answer: str) -> None:
    """Raise sentences that name a system, programme or document last year's answer named
    (previous_bonus per name, up to two). Figures do not count: they change every year, and
    last year's figure in this year's evidence is the wrong one to repeat."""
    bonus = _p().previous_bonus
    named = {n for n in _names(answer) if not n[0].isdigit()}
    if not named:
        return
    for c in cands:
        c.previous = min(len({n for n in c.names if not n[0].isdigit()} & named), 2)
        c.score *= 1 + bonus * c.previous


def _coverage(tokens, weights: dict[str, float]) -> float:
    total = sum(weights.values())
    return sum(w for t, w in weights.items() if t in tokens) / total if total else 0.0


# --- candidates -----------------------------------------------------------------------------

@lru_cache(maxsize=8192)
def _lines(text: str, wrapped: bool) -> tuple[tuple[int, str], ...]:
    """(paragraph number, sentence) of a passage. A table row stays whole (the sentence
    splitter would cut it between cells); a PDF's page-width line breaks are undone first."""
    out = []
    for n, line in enumerate((unwrap(text) if wrapped else text).splitlines()):
        if not line.strip():
            continue
        out.extend((n, s) for s in ([line.strip()] if is_row(line) else thai.sentences(line, whole=True)))
    return tuple(out)


_HEADING = re.compile(r"^(?:(?:ข้อ|ส่วนที่|บทที่|หมวด(?:ที่)?)\s*[0-9๐-๙]+(?:[.)]|\s)"
                      r"|[0-9๐-๙]{1,2}(?:\.[0-9๐-๙]{1,2})+\s)")
_STARTS_ITEM = re.compile(r"^\s*(?:[-–•*●▪]|\(?[0-9๐-๙]{1,2}[.)]|ข้อ\s*[0-9๐-๙])")


def _wrap_width(lines: list[str]) -> int:
    return max((len(ln) for ln in lines), default=0)


def wrapped_at_end(text: str) -> bool:
    """True when a PDF passage's last line runs to the page margin: its sentence goes on
    in the next chunk."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return bool(lines) and len(lines) > 2 and len(lines[-1]) >= 0.75 * _wrap_width(lines)


def unwrap(text: str) -> str:
    """Rejoin the lines of a PDF paragraph that the page width broke. A line that runs to
    the margin (≥ 75 % of the widest) continues on the next one, unless that one opens a
    list item or a numbered clause; Thai needs no space at the join, Latin and digits do."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    width = _wrap_width(lines)
    out: list[str] = []
    last = ""                       # the previous physical line, as the page printed it
    for ln in lines:
        if out and len(lines) > 2 and len(last) >= 0.75 * width and not _STARTS_ITEM.match(ln) \
                and not _HEADING.match(last):
            glue = "" if _thai_edge(last[-1]) and _thai_edge(ln[0]) else " "
            out[-1] = out[-1] + glue + ln
        else:
            out.append(ln)
        last = ln
    return "\n".join(out)


def _thai_edge(ch: str) -> bool:
    return "\u0e01" <= ch <= "\u0e4f"


@lru_cache(maxsize=32768)
def _tokens(text: str) -> frozenset[str]:
    return frozenset(thai.content_words(text))


def clean(line: str) -> str:
    """A source line as an answer item: list marks, leading connectives and a dangling
    lead-in removed, cut to max_chars (kb/data/params.toml) at a phrase boundary."""
    return pieces(line)[0]


def pieces(line: str) -> list[str]:
    """A source line as answer items: cleaned as by `clean`, and when it is longer than
    max_chars, cut at phrase boundaries into consecutive pieces ("… " marks where a piece
    goes on from the one before): the systems and figures a long sentence names are often
    in its second half, and a piece is still verbatim text of the passage."""
    text = _LIST_MARK.sub("", line.strip())
    text = _CLAUSE_NO.sub("", text)
    text = _CONNECTIVE.sub("", text)
    text = _TRAILING.sub("", text).strip(" ,;")
    out: list[str] = []
    while len(text) > _p().max_chars and len(out) < _p().max_pieces - 1:
        cut = text.rfind(" ", int(_p().max_chars * 0.6), _p().max_chars)
        cut = cut if cut > 0 else _p().max_chars
        out.append(text[:cut].rstrip(" ,;") + " …")
        text = text[cut:].strip(" ,;")
    if len(text) > _p().max_chars:
        cut = text.rfind(" ", int(_p().max_chars * 0.6), _p().max_chars)
        text = text[:cut if cut > 0 else _p().max_chars].rstrip(" ,;") + " …"
    out.append(text)
    return [out[0]] + ["… " + t for t in out[1:]]


def usable(text: str) -> bool:
    if len(text) < _p().min_chars or _FURNITURE.match(text) or INJECTION.search(text):
        return False
    thai_chars = sum(1 for ch in text if "\u0e00" <= ch <= "\u0e7f")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return thai_chars + latin >= 0.5 * len(text)


def is_row(line: str) -> bool:
    return line.count(" | ") >= 1 and bool(_ROW_CELL.match(line.split(" | ")[0]))


def _row_values(row: str) -> str:
    """A row's cell values without their column labels ('label: value | …' → 'value …');
    the first cell (the row's own label) stays whole."""
    cells = row.split(" | ")
    return " ".join([cells[0], *((m.group(2) if (m := _ROW_CELL.match(c)) else c) for c in cells[1:])])


def _row_labels(row: str) -> str:
    return " ".join(m.group(1) for c in row.split(" | ")[1:] if (m := _ROW_CELL.match(c)))


def compact_row(line: str, weights: dict[str, float], keep: int = 5) -> str:
    """A table row as 'label: value | …'. A row longer than an item (max_chars) is cut down to
    the cells that matter to the criterion: the row's own label (its first two cells: a table
    often files a row under a group, then names it) and the cells sharing the criterion's words.
    A shorter row stays whole: the target or programme it names rarely repeats those words.
    Formula cells that the spreadsheet never computed ('=SUM(…)') say nothing and are left out."""
    cells = [c.strip() for c in line.split(" | ") if c.strip()]
    cells = [c for c in cells if not (_ROW_CELL.match(c) and _ROW_CELL.match(c).group(2).startswith("="))]
    if len(cells) <= keep or len(" | ".join(cells)) <= _p().max_chars:
        return " | ".join(cells)
    scored = sorted(range(2, len(cells)), key=lambda i: -_coverage(_tokens(cells[i]), weights))
    chosen = sorted([0, 1, *[i for i in scored[:keep - 2] if _coverage(_tokens(cells[i]), weights) > 0]])
    return " | ".join(cells[i] for i in chosen)


def candidates(criterion, passages, weights: dict[str, float],
               before: dict[str, str] | None = None) -> list[Candidate]:
    """Every usable sentence of the passages (and every pair of neighbouring sentences of
    one paragraph: the sentence naming the systems is often next to the one using the
    criterion's words), scored against the criterion. `before` maps a chunk id to the text
    of the chunk before it in its document: a PDF paragraph cut by the chunker is read whole
    for context, but only this chunk's part is ever an item."""
    before = before or {}
    doc_rank: dict[str, int] = {}
    out: list[Candidate] = []
    for pi, hit in enumerate(passages):
        rank = doc_rank.setdefault(hit.file_name, len(doc_rank))
        out.extend(_passage_candidates(hit, pi, rank, weights, before.get(hit.chunk_id, "")))
    return out


def from_bundle(criterion, bundle) -> list[Candidate]:
    """The candidates of a criterion's evidence bundle (kb.bundle) with their hand-set scores:
    generic sentences damped, and sentences naming what last year's answer named favoured."""
    cands = candidates(criterion, bundle.passages, bundle.weights, bundle.preceding)
    damp_generic(cands, bundle.weights, bundle.other_weights)
    if bundle.previous is not None and bundle.previous.answer:
        # last year's answer is a map: this year's evidence of the same systems and programmes
        favour_named(cands, bundle.previous.answer)
    corroborate(cands, bundle.passages)
    return cands


def corroborate(cands: list["Candidate"], passages) -> None:
    """Count, per sentence, the names it states (figures left out: a year or an amount repeats
    across documents by chance) that another of the criterion's evidence documents states as
    well: a system or programme the report, the workbook and the minutes all name is likely
    what the answer names."""
    by_file: dict[str, list[str]] = {}
    for h in passages:
        by_file.setdefault(h.file_name, []).append(squash(h.text))
    joined = {f: "\n".join(ts) for f, ts in by_file.items()}
    for c in cands:
        others = [t for f, t in joined.items() if f != c.hit.file_name]
        names = {squash(n) for n in c.names if n and not n[0].isdigit()}
        c.corroborated = min(sum(1 for n in names if n and any(n in t for t in others)), 3)


def _passage_candidates(hit, pi: int, rank: int, weights, prev: str) -> list[Candidate]:
    pdf = (hit.doc_type or "").lower() == "pdf"
    # what the passage as a whole is about speaks a little for each of its sentences: the one
    # naming the system is often not the one repeating the criterion's words
    prel = _p().passage_weight * _coverage(_tokens(hit.text), weights)
    heading_text = hit.heading or ""
    heading_ctx = _coverage(_tokens(heading_text), weights)
    lead_ctx, lead_left, lead_text = 0.0, 0, ""
    continued = pdf and bool(prev) and wrapped_at_end(prev)
    cut_at_end = pdf and wrapped_at_end(hit.text)
    units = _lines(hit.text, pdf)
    prev_units = _lines(prev, True) if continued else ()
    out: list[Candidate] = []
    last: tuple[int, Candidate] | None = None        # previous sentence, for pairs
    group, prev_row, prev_bullet = None, False, False
    para_best = (-1, 0.0)                            # (paragraph, best coverage so far in it)
    leads: dict[tuple, str] = {}                     # list group → its lead-in, cleaned
    for li, (para, line) in enumerate(units):
        fragment = continued and li == 0
        context_line = prev_units[-1][1] + line if fragment and prev_units else line
        row = is_row(line)
        parts = [compact_row(line, weights)] if row else pieces(line)
        text = parts[0]
        if cut_at_end and li == len(units) - 1 and not text.endswith("…"):
            text += " …"
        toks = _tokens(_row_values(text) if row else text)
        rel = _coverage(toks, weights)
        in_list = lead_left > 0
        ctx = max(heading_ctx, lead_ctx if in_list else 0.0)
        if para_best[0] == para:
            # a sentence goes on about what the one before it in its paragraph said
            ctx = max(ctx, _p().paragraph_weight * para_best[1])
        if row:
            # the column labels repeat on every row: like a heading, they say what the table is
            # about, not what this row adds
            ctx = max(ctx, _coverage(_tokens(_row_labels(text)), weights))
        ctx_text = heading_text + " " + (lead_text if in_list else "")
        lead_left -= 1
        whole = _coverage(_tokens(context_line), weights) if fragment else rel
        if _HEADING.match(line) and len(line) < 120:
            heading_ctx, heading_text = whole, context_line   # "ข้อ ๒ …" heads what follows
            last = None
            # and is context, not an answer, unless it is a numbered clause that says something
            # ("๑.๑ ให้ทุกสำนักงานขับเคลื่อนโครงการ …"), which is an item of its list
            if not fragment and _CLAUSE_NO.match(line.strip()) and len(text) >= _p().clause_chars \
                    and usable(text) and not _LEAD_END.search(line.strip()):
                out.append(_candidate(text, toks, hit, rank, (pi, li), rel, ctx, ctx_text, None, prel))
            continue
        bullet = not row and bool(_STARTS_ITEM.match(line))
        if row and not prev_row:
            group = (pi, li, "table")
        elif bullet and not in_list and not prev_bullet:
            group = (pi, li, "list")                  # a bulleted list with no lead-in line
            leads.setdefault(group, "")
        elif not row and not in_list and not (bullet and prev_bullet):
            group = None
        prev_row, prev_bullet = row, bullet
        if _LEAD_END.search(line.strip()):
            # the items after "… ได้แก่" answer what this line introduces
            lead_ctx, lead_left, lead_text = max(whole, heading_ctx), 6, context_line
            group = (pi, li, "list")
            leads[group] = "" if fragment else text
            if not fragment and usable(text) and len(text) >= 40:   # a bare "… ได้แก่" says nothing
                out.append(_candidate(text, toks, hit, rank, (pi, li), rel, ctx, ctx_text, None, prel))
            last = None
            continue
        if fragment:
            # the end of a sentence the chunk before began: the systems it names are often in
            # this half, so it is offered too, marked as going on from text not quoted
            if usable(text):
                out.append(_candidate("… " + text, toks, hit, rank, (pi, li), rel, max(ctx, whole),
                                      ctx_text, None, prel))
            last = None
            continue
        if not usable(text):
            last = None
            continue
        c = _candidate(text, toks, hit, rank, (pi, li), rel, ctx, ctx_text, group, prel)
        out.append(c)
        para_best = (para, max(rel, para_best[1] if para_best[0] == para else 0.0))
        # the rest of a long sentence: what it is about (its first part) speaks for it as context
        for k, part in enumerate(parts[1:], 1):
            ptoks = _tokens(part)
            if usable(part):
                out.append(_candidate(part, ptoks, hit, rank, (pi, li + k / 10), _coverage(ptoks, weights),
                                      max(ctx, rel), ctx_text, None, prel))
        if last and last[0] == para and not row and not text.endswith("…") \
                and len(last[1].text) + len(text) < _p().pair_chars:
            first = last[1]
            jt = first.tokens | toks
            pair = _candidate(f"{first.text} {text}", jt, hit, rank, first.order,
                              _coverage(jt, weights), max(first.ctx, ctx), ctx_text, None, prel)
            pair.single = False
            out.append(pair)
        last = (para, c) if not row else None
    return out + _whole_lists(out, leads, hit, rank, weights, prel)


def _whole_lists(cands: list[Candidate], leads: dict[tuple, str], hit, rank, weights, prel) -> list[Candidate]:
    """A short list as one item: its lead-in and its items joined ("… ได้แก่ ก; ข; ค"). The
    form's answers are enumerations, and a list's items rarely repeat the criterion's words
    one by one; together they say what the lead-in promised."""
    out = []
    for key, lead in leads.items():
        items = [c for c in cands if c.group == key and c.single]
        if len(items) < 2:
            continue
        parts = [lead] if lead else []
        for c in items:
            if len("; ".join(parts + [c.text])) > _p().list_chars:
                break
            parts.append(c.text)
        if len(parts) - bool(lead) < 2:
            continue
        text = (parts[0] + " " + "; ".join(parts[1:])) if lead else "; ".join(parts)
        toks = frozenset().union(*(_tokens(p) for p in parts))
        joined = _candidate(text, toks, hit, rank, items[0].order, _coverage(toks, weights),
                            max(c.ctx for c in items), items[0].ctx_text, None, prel)
        joined.single, joined.whole_list = False, True
        out.append(joined)
    return out


def _candidate(text, toks, hit, rank, order, rel, ctx, ctx_text, group, prel=0.0) -> Candidate:
    c = Candidate(text, toks, hit, rank, order, rel, ctx, squash(ctx_text), group, prel=prel)
    names = _names(text)
    c.names = frozenset(names)
    c.concrete = bool(names) or _concrete(text)
    # answers name things: systems, programmes, figures (the form's answers are lists of them)
    bonus = 1 + _p().concrete_bonus * min(len(names), 3) + (0.05 if c.concrete else 0.0)
    # long sentences cover more of any criterion by sheer length: damp that a little
    c.score = (rel + _p().context_weight * ctx + prel) * bonus / (1 + _p().rank_damp * rank) / (1 + _p().length_damp * len(toks))
    return c


_NAMED = re.compile(r"[A-Za-z][A-Za-z0-9\-]+(?: [A-Z][A-Za-z0-9\-]+)*|[0-9๐-๙][0-9๐-๙,.]*|“[^”]+”|\"[^\"]+\"|"
                    r"(?:โครงการ|ระบบ|แอปพลิเคชัน|หลักสูตร|รางวัล|คู่มือ|แผน|มหกรรม|เครือข่าย|ฐานข้อมูล|สถาบัน|ศูนย์|กิจกรรม|มาตรการ)[\u0e01-\u0e4f]{3,}")


def _names(text: str) -> set[str]:
    return set(_NAMED.findall(text))


_CONCRETE = re.compile(r"[0-9๐-๙]|[A-Za-z]{2,}|โครงการ|ระบบ|แอปพลิเคชัน|รางวัล|หลักสูตร|คู่มือ|แผน")


def _concrete(text: str) -> bool:
    return bool(_CONCRETE.search(text))


def should_abstain(support: float, closeness: float | None, model: str, cands=()) -> bool:
    """With learned abstention weights (kb.scoring, params.toml [scoring]): the learned
    probability of a gap from support, closeness and the best sentences' learned scores.
    Otherwise two thresholds (kb/data/params.toml [abstain]): support, the best sentence's
    share of the criterion's idf-weighted words, below which nothing on the topic was found;
    and the embedding model's closeness: a near miss shares some words but no passage comes
    close in meaning, so weak support *and* low closeness abstain too. Cosine scales differ
    between models, so the floor is per model; a model without one abstains on support alone."""
    p = params.active().abstain
    floor = p.closeness_floor.get(model)
    gap = scoring.gap_probability(scoring.abstain_features(support, closeness, floor, cands))
    if gap is not None:
        return gap >= params.active().scoring.abstain_at
    if support < p.below:
        return True
    return floor is not None and closeness is not None and support < p.weak_support and closeness < floor


def support(criterion, cands: list[Candidate], weights: dict[str, float]) -> float:
    """How well the evidence answers the criterion: the best sentence's coverage of the
    criterion's words, its context counted at half weight. This is the abstention signal."""
    return max((c.rel + 0.5 * c.ctx for c in cands), default=0.0)


# --- selection --------------------------------------------------------------------------------

def _same(a: Candidate, b: Candidate) -> bool:
    if not a.tokens or not b.tokens:
        return a.text == b.text
    inter = len(a.tokens & b.tokens)
    return inter / len(a.tokens | b.tokens) >= _p().duplicate or inter / min(len(a.tokens), len(b.tokens)) >= 0.85


def _pick(pool: list[Candidate], key, n: int, floor: float, taken: list[Candidate]) -> list[Candidate]:
    """Greedy: the best item first, then the best of the rest, where a name or figure that an
    item already chosen states no longer counts for a candidate (the list should name more
    things, not the same system three times)."""
    chosen: list[Candidate] = []
    said = {m for t in taken for m in t.names}
    rest = sorted((c for c in pool if key(c) >= floor), key=lambda c: (-key(c), c.order))
    while rest and len(chosen) < n:
        def gain(c):
            new = len(c.names - said)
            return key(c) * (1 + _p().novelty * min(new, 3)) / (1 + _p().novelty * min(len(c.names), 3))
        best = rest.pop(max(range(len(rest)), key=lambda i: (gain(rest[i]), -i)))
        if any(_same(best, t) for t in taken + chosen):
            continue
        chosen.append(best)
        said |= best.names
    return chosen


def _siblings(cands: list[Candidate], chosen: list[Candidate], taken: list[Candidate], room: int):
    """The other items of a short list or table one of whose items was chosen: the form's
    answers are enumerations, and a list the evidence gives is answered whole."""
    sizes: dict[tuple, int] = {}
    for c in cands:
        if c.group and c.single:
            sizes[c.group] = sizes.get(c.group, 0) + 1
    out: list[Candidate] = []
    for c in chosen:
        if not c.group or sizes.get(c.group, 0) > _p().siblings:
            continue
        for sib in sorted((x for x in cands if x.group == c.group and x.single), key=lambda x: x.order):
            if len(out) >= room:
                return out
            if sib is not c and not any(_same(sib, t) for t in taken + out):
                out.append(sib)
    return out


def select(criterion, cands: list[Candidate]):
    """(items, passages by key) for kb.draft: items are (sub-prompt label or None, text, [chunk id])."""
    if not cands:
        return [], {}
    best = max(c.score for c in cands)
    # one outstanding item (a row that repeats the criterion's words) should not silence the
    # rest: the floor is a share of the best, but never above the fill_to-th best score
    scores = sorted((c.score for c in cands), reverse=True)
    floor = min(_p().keep_from_best * best, scores[min(_p().fill_to, len(scores)) - 1])
    taken: list[Candidate] = []
    groups: list[tuple[str | None, list[Candidate]]] = []
    if criterion.subprompts:
        # words every part shares ("ด้าน", "มาตรการจัดการ") do not tell the parts apart
        labels = [thai.content_words(sp.label) for sp in criterion.subprompts]
        shared = set.intersection(*labels) if len(labels) > 1 else set()
        for sp, words in zip(criterion.subprompts, labels):
            # label words are matched as substrings: newmm cuts the same phrase differently
            # in a short label and in a long sentence ("แนว|ทางใน|การแก้ไข")
            own = [w for w in words - shared if len(w) >= 3]
            if not own:
                continue
            phrase = squash(_TRAILING.sub("", sp.label))

            def key(c, own=own, phrase=phrase):
                if c.whole_list:        # its items may answer different parts: offer them one by one
                    return 0.0
                text = squash(c.text)
                hit = sum(w in text for w in own) / len(own)
                # a list item answers the part its lead-in names ("… แก้ไขด้วยสามมาตรการ ได้แก่")
                hit = max(hit, 0.6 * sum(w in c.ctx_text for w in own) / len(own))
                if len(phrase) >= 6 and phrase in text:
                    hit += 1.0          # the source names the part itself ("ด้านสังคม …")
                return c.score * (0.5 + hit) if hit > 0 else 0.0
            mine = _pick(cands, key, _p().per_subprompt, floor * 0.5, taken)
            taken += mine
            groups.append((sp.label, mine))
        room = max(_p().max_with_parts - len(taken), 0)
        general = _pick(cands, lambda c: c.score, min(_p().general_with_parts, room), floor, taken)
    else:
        general = _pick(cands, lambda c: c.score, _p().max_items, floor, taken)
    taken += general
    # the best documents' own enumeration: sentences or short lists there that name two or more
    # systems, programmes or figures no chosen item names yet often share no word with the
    # criterion (the EoDB ranks under "ข้อมูลเทียบเคียง"), yet they are what the form's answers list
    said = {m for t in taken for m in t.names}
    named = [c for c in cands if c.doc_rank < _p().named_from_docs and (c.single or c.whole_list)
             and len(c.names - said) >= 2]
    extra = _pick(named, lambda c: c.score * len(c.names - said), _p().from_best_document, 0.0, taken)
    general += extra
    taken += extra
    cap = (_p().max_with_parts if criterion.subprompts else _p().max_items) + _p().siblings_extra
    for _, chosen in [(None, general), *groups]:
        for sib in _siblings(cands, list(chosen), taken, cap - len(taken)):
            chosen.append(sib)
            taken.append(sib)
    items = []
    for label, chosen in [(None, general), *groups]:
        for c in sorted(chosen, key=lambda c: (c.doc_rank, c.order)):
            items.append((label, c.text, [c.hit.chunk_id]))
    return items, {c.hit.chunk_id: c.hit for c in taken}
