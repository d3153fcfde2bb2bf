"""Thai PDFs with tables, printed as Word and report generators print them (Garuda, Thai shaped by
HarfBuzz, cells wrapped between Thai words): shared by tests/test_pdf_tables.py and
bench/pdftables.py, so that both measure the same kind of page."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")
BOLD = Path("/usr/share/fonts/truetype/tlwg/Garuda-Bold.ttf")


def _printed(text: str) -> str:
    # HarfBuzz draws ำ as two glyphs and fpdf2 maps only the first back to Unicode; writing
    # nikhahit + sara aa looks the same and extracts as real Thai PDFs often do (see
    # scripts/build_corpus.py)
    return text.replace("\u0e33", "\u0e4d\u0e32")


def _tokens(text: str) -> list[str]:
    from pythainlp.tokenize import word_tokenize
    return word_tokenize(text, engine="newmm", keep_whitespace=True)


@dataclass
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass
class PdfBuilder:
    """A PDF built block by block: paragraphs, tables, page breaks."""
    size: float = 12
    pdf: object = field(init=False)

    def __post_init__(self):
        from fpdf import FPDF
        self.pdf = FPDF()
        self.pdf.add_font("Garuda", fname=str(FONT))
        self.pdf.add_font("Garuda", style="B", fname=str(BOLD))
        self.pdf.set_font("Garuda", size=self.size)
        self.pdf.set_text_shaping(True)
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_page()

    def wrap(self, text: str, width: float) -> str:
        """Lines no wider than `width`, broken between Thai words (fpdf2 only breaks at spaces)."""
        lines, current = [], ""
        for token in _tokens(text):
            if current and self.pdf.get_string_width(current + token) > width:
                lines.append(current.rstrip())
                current = token.lstrip()
            else:
                current += token
        lines.append(current.rstrip())
        return "\n".join(line for line in lines if line) or ""

    def para(self, text: str) -> "PdfBuilder":
        self.pdf.set_font("Garuda", size=self.size)
        self.pdf.multi_cell(0, self.size * 0.55, _printed(self.wrap(text, self.pdf.epw)),
                            new_x="LMARGIN", new_y="NEXT")
        self.pdf.ln(2)
        return self

    def page(self) -> "PdfBuilder":
        self.pdf.add_page()
        return self

    def table(self, rows: list[list[str | Cell]], widths: list[float] | None = None, ruled: bool = True,
              repeat_header: bool = True, header_rows: int = 1) -> "PdfBuilder":
        """`rows`: the first `header_rows` are the header (bold); a Cell spans columns or rows, and
        the cells it covers are left out of the rows below it."""
        pdf = self.pdf
        pdf.set_font("Garuda", size=self.size)
        ncol = sum(c.colspan if isinstance(c, Cell) else 1 for c in rows[0])
        widths = widths or [1] * ncol
        unit = pdf.epw / sum(widths)
        with pdf.table(col_widths=widths, width=pdf.epw, text_align="LEFT", line_height=self.size * 0.55,
                       borders_layout="ALL" if ruled else "NONE", num_heading_rows=header_rows,
                       first_row_as_headings=header_rows > 0, repeat_headings=1 if repeat_header else 0,
                       padding=1.2) as table:
            below: dict[int, int] = {}          # column → rows a rowspan above still covers
            for cells in rows:
                row = table.row()
                column, taken = 0, dict(below)
                below = {c: n - 1 for c, n in below.items() if n > 1}
                for cell in cells:
                    cell = cell if isinstance(cell, Cell) else Cell(cell)
                    while column in taken:
                        column += 1
                    width = sum(widths[column:column + cell.colspan]) * unit - 3
                    row.cell(_printed(self.wrap(cell.text, width)), colspan=cell.colspan, rowspan=cell.rowspan)
                    if cell.rowspan > 1:
                        for c in range(column, column + cell.colspan):
                            below[c] = cell.rowspan - 1
                    column += cell.colspan
        pdf.ln(3)
        return self

    def save(self, path: Path) -> Path:
        self.pdf.output(str(path))
        return Path(path)


# --- random tables, for the bench -----------------------------------------------------------------

_WORDS = None


def _thai_words(rng: random.Random) -> list[str]:
    global _WORDS
    if _WORDS is None:
        from pythainlp.corpus import thai_words
        _WORDS = sorted(w for w in thai_words() if 2 <= len(w) <= 12 and " " not in w)
    return _WORDS


def random_label(rng: random.Random, words: int | None = None) -> str:
    """A made-up Thai label: one to five dictionary words run together, sometimes a phrase space."""
    vocab = _thai_words(rng)
    n = words or rng.randint(1, 5)
    out = ""
    for i in range(n):
        out += ("" if i == 0 or rng.random() < 0.75 else " ") + rng.choice(vocab)
    return out


def random_figure(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return f"{rng.randint(0, 100)}"
    if kind < 0.55:
        return f"{rng.uniform(0, 100):.2f}"
    if kind < 0.75:
        return f"{rng.randint(1000, 9_999_999):,}"
    if kind < 0.9:
        return f"ร้อยละ {rng.uniform(0, 100):.1f}"
    return f"{rng.randint(1, 12)}/{rng.randint(2560, 2567)}"


def random_table(rng: random.Random, rows: int | None = None, columns: int | None = None) -> list[list[str]]:
    """A header of Thai labels over rows of a Thai label and figures."""
    ncol = columns or rng.randint(2, 6)
    nrow = rows or rng.randint(3, 12)
    header = [random_label(rng, rng.randint(1, 3)) for _ in range(ncol)]
    body = [[random_label(rng)] + [random_figure(rng) if rng.random() < 0.8 else random_label(rng, 2)
                                   for _ in range(ncol - 1)] for _ in range(nrow)]
    return [header, *body]
