"""Tables → text that can be searched and cited one row at a time.

Every loader (DOCX, XLSX, CSV, HTML, Markdown) turns its tables into a grid of
cell strings and hands it here, so all formats render tables the same way:

    ตัวชี้วัด: ร้อยละความพึงพอใจ | เป้าหมาย: 80 | ผล: 85.5

one line per data row, with the header repeated in every line. A retrieved chunk
then carries its own column names, however the chunker cuts the table, and the
row number in the provenance points at the exact row to cite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# ~20 rows keeps a block near one embedding chunk for typical KPI tables while
# the row range stays small enough to be a useful citation.
ROWS_PER_SECTION = 20


@dataclass(frozen=True)
class Span:
    """Cells merged into one, 1-based rows and columns, last ones included (as openpyxl's ranges)."""
    min_row: int
    min_col: int
    max_row: int
    max_col: int


@dataclass(frozen=True)
class TableBlock:
    text: str  # exactly one line per data row, nothing else (see table_blocks)
    rows: tuple[int, int]  # first and last row number, in the caller's numbering
    title: str | None = None  # rows above the header, e.g. a title merged across the sheet


def clean_cell(value: str) -> str:
    """One line per row is the whole point, so newlines inside a cell become spaces."""
    return " ".join(value.split())


def row_line(header: Sequence[str] | None, cells: Sequence[str]) -> str:
    """`header: value | …`; empty cells are left out, a value under an empty header stands alone."""
    parts = []
    for i, value in enumerate(cells):
        if not value:
            continue
        name = header[i] if header is not None and i < len(header) else ""
        parts.append(f"{name}: {value}" if name else value)
    return " | ".join(parts)


def table_blocks(
    rows: Iterable[tuple[int, Sequence[str]]], size: int = ROWS_PER_SECTION
) -> list[TableBlock]:
    """Render numbered rows of cell text as blocks of about `size` data rows.

    The header is the first row with at least two non-empty cells; rows above it
    (a title typed or merged across the sheet) become every block's `title`, since
    "ผลการดำเนินงาน ปี 2564" is what gives the numbers meaning. The title is kept
    out of `text` so that line i of the text is always data row i of the block:
    the chunker relies on that to cite single rows. A grid where no row has two
    cells is a list, not a table: rows are rendered without a header.
    """
    grid = [(n, [clean_cell(c) for c in cells]) for n, cells in rows]
    grid = [(n, cells) for n, cells in grid if any(cells)]
    if not grid:
        return []

    start = next((i for i, (_, cells) in enumerate(grid) if sum(map(bool, cells)) >= 2), None)
    if start is None:
        header, context_rows, data = None, [], grid
    else:
        header, context_rows, data = grid[start][1], grid[:start], grid[start + 1 :]
        if not data:
            # A one-row table (often a layout table in a Word file) has no data
            # rows; keep its text rather than dropping it.
            header, data = None, [grid[start]]

    title: list[str] = []
    for _, cells in context_rows:
        line = " ".join(c for c in cells if c)
        if line not in title:  # a title merged over two rows shows up twice
            title.append(line)

    blocks = []
    for i in range(0, len(data), size):
        part = data[i : i + size]
        text = "\n".join(row_line(header, cells) for _, cells in part)
        blocks.append(TableBlock(text, (part[0][0], part[-1][0]), " ".join(title) or None))
    return blocks


def fold_header(grid: list[list[str]], merged: Sequence[Span]) -> list[list[str]]:
    """A header of two or more rows becomes one header row, each column named in full.

    `merged`: the grid's merged cells (openpyxl's ranges, or `Span`s), 1-based and inclusive.

    The header row is the first with two cells (as `table_blocks` finds it; a title merged
    across the sheet has one). A cell of it merged downwards over k rows says the header is
    k+1 rows deep: "ผลการดำเนินงาน" over two columns above "2565" and "2566" becomes
    "ผลการดำเนินงาน 2565" and "ผลการดำเนินงาน 2566". Within the header, a cell merged across
    columns names every column it spans; elsewhere it stays once (a title is not a header).
    The folded header takes the place of the last header row, so data rows keep their numbers.
    """
    start = next((i for i, row in enumerate(grid) if sum(map(bool, row)) >= 2), None)
    if start is None:
        return grid
    first = start + 1  # 1-based, as the merged ranges count
    depth = max((m.max_row - m.min_row for m in merged if m.min_row == first), default=0)
    depth = min(depth, len(grid) - 1 - start)
    band = range(first, first + depth + 1)
    for m in merged:
        if m.min_row in band and m.max_col > m.min_col:
            top = grid[m.min_row - 1][m.min_col - 1]
            for r in range(m.min_row, min(m.max_row, band[-1]) + 1):
                for c in range(m.min_col, min(m.max_col, len(grid[r - 1])) + 1):
                    grid[r - 1][c - 1] = top
    if depth == 0:
        return grid
    header = []
    for column in zip(*grid[start : start + depth + 1]):
        names: list[str] = []
        for name in column:
            if name and name not in names:
                names.append(name)
        header.append(" ".join(names))
    blank = [""] * len(header)
    # Blank rows in place of the upper header rows keep every row at its sheet row number.
    return grid[:start] + [blank] * depth + [header] + grid[start + depth + 1 :]
