"""Formula results for workbooks that were saved without them.

Excel stores the last result of every formula beside it, and openpyxl reads those cached values
(`data_only=True`). A workbook written by a program (openpyxl, many report generators) has the
formulas only: a reader then sees "=ROUND(C5/SUM(C$3:C$7)*100,1)" where a person sees 25.6. The
`formulas` library evaluates the workbook as Excel would, so such a cell reads as its value.

Evaluating is bounded: a workbook with more formula cells than the limit is not evaluated (its
uncached formulas read as blank, never as formula text), and a failure to evaluate is logged
and leaves the cells blank rather than failing the file: the typed values still carry the text.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

log = logging.getLogger(__name__)

# formulas names a cell "'[book.xlsx]SHEET NAME'!B7" (sheet names upper-cased); ranges have a ":".
_CELL_KEY = re.compile(r"^'?\[[^\]]*\](?P<sheet>.+?)'?!(?P<cell>[A-Z]+[0-9]+)$")


def computed_values(path: Path, wanted: set[tuple[str, str]], max_formula_cells: int) -> dict:
    """Results for the cells `wanted` ((sheet title, "B7") pairs), keyed the same way.

    `max_formula_cells` bounds the work: the library builds a graph of every formula in the
    workbook, so its cost grows with the formula count, not with the cells asked for.
    A result that is an Excel error reads as Excel shows it ("#DIV/0!").
    """
    if not wanted:
        return {}
    if len(wanted) > max_formula_cells:
        log.warning("%s: %d formulas without saved results, over the limit of %d: left blank",
                    path.name, len(wanted), max_formula_cells)
        return {}
    try:
        import formulas  # heavy import (scipy, schedula): only for workbooks that need it

        # The library draws a progress bar on stderr while it builds the graph; in an ingest
        # log that is noise, and ingestion reports its own progress per file.
        with contextlib.redirect_stderr(io.StringIO()):
            solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    except Exception as exc:  # noqa: BLE001 - any failure of the evaluator leaves cells blank
        log.warning("%s: formulas could not be evaluated (%s): left blank", path.name,
                    " ".join(str(exc).split())[:200])
        return {}
    by_upper = {(sheet.upper(), cell): (sheet, cell) for sheet, cell in wanted}
    results = {}
    for key, ranges in solution.items():
        match = _CELL_KEY.match(key)
        if not match:
            continue
        target = by_upper.get((match["sheet"].upper(), match["cell"]))
        if target is not None:
            results[target] = _scalar(ranges)
    return results


def _scalar(ranges):
    """One cell's value out of the library's 1×1 array, as a plain Python value."""
    value = getattr(ranges, "value", ranges)
    try:
        value = value[0][0]
    except (TypeError, IndexError, KeyError):
        pass
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if value is None or str(value) == "empty":  # the library's EMPTY marker: a blank result
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)  # XlError: "#DIV/0!", "#REF!" …
