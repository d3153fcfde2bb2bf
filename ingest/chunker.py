"""Sections → chunks: Thai sentences packed to the embedding model's token budget.

Budgets are counted with the model's own tokenizer (not characters, not tiktoken), on the
exact text that gets embedded (context header included), so nothing is silently truncated.
A sentence longer than the budget is cut between words, never inside one.
"""
from __future__ import annotations

from typing import Callable

from textmodel import thai
from textmodel.records import Chunk, LoadedFile, Section

TokenCounter = Callable[[str], int]


def context_header(title: str, section: Section) -> str:
    """What a passage means depends on where it sits: title, then heading or sheet."""
    parts = [title]
    for extra in (section.heading, section.sheet):
        if extra and extra != title:
            parts.append(extra)
    return " › ".join(p for p in parts if p)


def chunk_file(loaded: LoadedFile, count: TokenCounter, budget: int,
               clean: Callable[[str], str] = thai.normalize) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in loaded.sections:
        header = context_header(loaded.title, section)
        for text, rows in _pack(section, clean(section.text), header, count, budget):
            chunks.append(Chunk(text=text, index_text=f"{header}\n{text}" if header else text,
                                ordinal=len(chunks), page=section.page, sheet=section.sheet,
                                rows=rows, heading=section.heading, table=section.table,
                                origin=section.origin, ocr_confidence=section.ocr_confidence))
    return chunks


def _units(section: Section, text: str) -> list[tuple[str, int | None, int]]:
    """(sentence, spreadsheet row or None, paragraph number): rows when the section is a table
    whose lines are one per row (loaders write tables that way), else the sentences of each
    line, a line being a paragraph."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if section.rows and len(lines) == section.rows[1] - section.rows[0] + 1:
        return [(ln, section.rows[0] + i, i) for i, ln in enumerate(lines)]
    return [(s, None, n) for n, line in enumerate(lines) for s in thai.sentences(line)]


def _pack(section: Section, text: str, header: str, count: TokenCounter, budget: int):
    header_cost = count(header) if header else 0
    room = max(budget - header_cost, 32)
    current: list[tuple[str, int | None, int]] = []
    used = 0

    def flush():
        # sentences of one paragraph stay on one line: the drafter reads a line as a paragraph
        # (a sentence goes on about the one before it), so paragraph ends must survive chunking
        body = current[0][0]
        for (_, _, before), (t, _, para) in zip(current, current[1:]):
            body += (" " if para == before else "\n") + t
        rows = [r for _, r, _ in current if r is not None]
        span = (min(rows), max(rows)) if rows else section.rows
        return body, span

    for unit, row, para in _units(section, text):
        for piece, cost in _fit(unit, count, room):
            if current and used + cost > room:
                yield flush()
                current, used = [], 0
            current.append((piece, row, para))
            used += cost
    if current:
        yield flush()


def _fit(sentence: str, count: TokenCounter, room: int) -> list[tuple[str, int]]:
    """(piece, token count): the sentence itself when it fits, else word-boundary pieces
    that each fit. Counting is the chunker's main cost, so each piece is counted once."""
    cost = count(sentence)
    if cost <= room:
        return [(sentence, cost)]
    from pythainlp.tokenize import word_tokenize
    pieces, current = [], ""
    for word in word_tokenize(sentence, engine="newmm"):
        candidate = current + word
        if current and count(candidate) > room:
            pieces.append(current.strip())
            current = word
        else:
            current = candidate
    if current.strip():
        pieces.append(current.strip())
    # a single "word" longer than the budget (e.g. a URL) is cut by characters as a last resort
    out = []
    for p in pieces:
        while count(p) > room:
            cut = max(1, len(p) * room // count(p))
            out.append(p[:cut])
            p = p[cut:]
        out.append(p)
    return [(p, count(p)) for p in out if p]
