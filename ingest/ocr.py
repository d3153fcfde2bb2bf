"""Thai OCR: text recognised from page images with Tesseract's Thai and English models
(Debian `tesseract-ocr`, `tesseract-ocr-tha`; `make system-deps` installs them), through pytesseract.

Two things about Thai in Tesseract shape the code:
- It reports Thai "words" of one or a few characters. Words are joined again as the page shows
  them: a space where the gap between two boxes is a real gap, or between two Latin words or
  numbers; none inside a run of Thai ("พ.ศ." stays one token).
- Above-line marks (ั ิ ี ่ ้ …) of a line with wide spacing can be found as a line of their own,
  recognised as noise ("Aa va ๐ ๑4"), the line below then read without them. Such a row is far
  shorter than the text lines of the page (under 0.6 of the median line height) or reaches into
  the line below (text lines never overlap, so a box inside the next line's box counts too): it
  and the line below are read again as one line (Tesseract's single-line mode), marks and letters
  together, and that reading replaces the line's only when Tesseract is surer of it.

The constants below were chosen on printed-and-scanned pages (bench/ocr.py), not on the three
evaluation collections, which hold no scans.
"""
from __future__ import annotations

import shutil
import statistics
from dataclasses import dataclass
from functools import lru_cache

LANGUAGES = "tha+eng"
# psm 4: one column of text of varying sizes; the default (3) splits a page into more blocks and
# loses lines of wide-spaced Thai (justified Word output) that 4 keeps.
CONFIG = "--psm 4"
DPI = 300                       # render scale for PDF pages: Tesseract's best range is 300 dpi
MAX_PIXELS = 60_000_000         # one page image at most (an A0 poster at 300 dpi is ~140 M)
SHORT_LINE = 0.6                # lines under this share of the median line height are mark rows
OVERLAP = 0.3                   # a line reaching this share of its height into the next is a mark row
PARAGRAPH_GAP = 0.8             # a vertical gap over this share of the line height ends a paragraph
MAX_SKEW = 4.0                  # degrees of slant looked for and undone before OCR
GAP = 0.3                       # a gap wider than this share of the line height is a space


class OcrUnavailable(RuntimeError):
    """Tesseract or its Thai model is not installed; the message says what to install."""


@dataclass(frozen=True)
class Recognised:
    text: str
    confidence: float | None       # mean word confidence 0–100; None when nothing was found


@lru_cache(maxsize=1)
def _languages() -> frozenset[str]:
    import pytesseract
    return frozenset(pytesseract.get_languages(config=""))


def check_available() -> None:
    if shutil.which("tesseract") is None:
        raise OcrUnavailable("OCR needs Tesseract (Debian: apt-get install tesseract-ocr tesseract-ocr-tha)")
    if "tha" not in _languages():
        raise OcrUnavailable("OCR needs Tesseract's Thai model (Debian: apt-get install tesseract-ocr-tha)")


def _is_thai(chars: str) -> bool:
    return any("\u0e00" <= ch <= "\u0e7f" for ch in chars)


def _lines(image, config: str, timeout: float) -> list[dict]:
    """Tesseract's lines of `image` in reading order: paragraph key, box and words."""
    import pytesseract
    data = pytesseract.image_to_data(image, lang=LANGUAGES, config=config, timeout=timeout,
                                     output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], dict] = {}
    for i, level in enumerate(data["level"]):
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        if level == 4:
            lines[key] = {"paragraph": key[:2], "left": data["left"][i], "top": data["top"][i],
                          "width": data["width"][i], "height": data["height"][i], "words": []}
        elif level == 5 and data["text"][i].strip() and key in lines:
            lines[key]["words"].append((data["left"][i], data["width"][i], data["text"][i].strip(),
                                        float(data["conf"][i])))
    return [ln for ln in lines.values() if ln["words"]]


def _joined(line: dict) -> str:
    text, right = "", None
    for left, width, word, _ in line["words"]:
        if right is not None and (left - right >= GAP * line["height"] or (
                text[-1].isalnum() and word[0].isalnum() and not _is_thai(text[-1] + word[0]))):
            text += " "
        text += word
        right = left + width
    return text


def _mark_row(line: dict, below: dict | None, median: float) -> bool:
    """A row of marks above the next line: short, or reaching well into the line below it (two
    lines of text never overlap)."""
    if line["height"] < SHORT_LINE * median:
        return True
    if below is None:
        return False
    # the share of the row's height inside the next line's box: Tesseract may even draw the
    # next line's box from above the marks' row
    overlap = (min(line["top"] + line["height"], below["top"] + below["height"])
               - max(line["top"], below["top"]))
    return overlap > OVERLAP * line["height"]


def _with_marks(image, marks: dict, line: dict, median: float, timeout: float) -> dict:
    """`line` read again as one line together with the row of marks found above it."""
    pad = int(0.2 * median)
    box = (max(0, min(marks["left"], line["left"]) - pad), max(0, marks["top"] - pad),
           min(image.width, max(marks["left"] + marks["width"], line["left"] + line["width"]) + pad),
           min(image.height, line["top"] + line["height"] + pad))
    words = [w for ln in _lines(image.crop(box), "--psm 7", timeout) for w in ln["words"]]
    # the line may have been read whole the first time, its marks found twice: the reading
    # Tesseract is surer of stands
    return {**line, "words": words} if words and _confidence(words) > _confidence(line["words"]) else line


def _confidence(words: list) -> float:
    known = [w[3] for w in words if w[3] >= 0]
    return statistics.fmean(known) if known else -1.0


def deskewed(gray):
    """The page turned upright when it was scanned a little askew (up to MAX_SKEW degrees):
    Tesseract finds Thai lines badly on a slant (a 2° page lost a quarter of its characters).
    The angle is the one whose horizontal ink profile is sharpest (text lines then fall into
    rows), looked for on a small copy of the page."""
    import numpy as np
    small = gray.copy()
    small.thumbnail((800, 800))
    ink = (np.asarray(small) < 128).astype(np.float32)
    if ink.sum() < 50:
        return gray
    from PIL import Image

    def sharpness(angle: float) -> float:
        turned = Image.fromarray((ink * 255).astype(np.uint8)).rotate(angle, resample=Image.BILINEAR)
        return float(np.var(np.asarray(turned, dtype=np.float32).sum(axis=1)))
    angles = np.arange(-MAX_SKEW, MAX_SKEW + 1e-9, 0.25)
    best = max(angles, key=sharpness)
    if abs(best) < 0.2:
        return gray
    return gray.rotate(float(best), resample=Image.BICUBIC, expand=True, fillcolor=255)


def recognise(image, timeout: float = 60.0) -> Recognised:
    """The text of one page image (PIL), one paragraph per line. `timeout`: seconds for one
    Tesseract run; past it Tesseract is stopped and RuntimeError raised."""
    check_available()
    gray = deskewed(image.convert("L"))
    found = _lines(gray, CONFIG, timeout)
    if not found:
        return Recognised("", None)
    median = statistics.median(ln["height"] for ln in found)
    lines, i = [], 0
    while i < len(found):
        line, below = found[i], found[i + 1] if i + 1 < len(found) else None
        if not _mark_row(line, below, median):
            lines.append(line)
        elif below is not None:
            lines.append(_with_marks(gray, line, below, median, timeout))
            i += 1                              # the line below was read with its marks
        i += 1
    # One paragraph per line, as the chunker reads text: the lines of a paragraph are where the
    # page ran out of width, not breaks in the text. Thai breaks a line between words and writes
    # no space there; anything else gets the space the break stood for.
    # Tesseract's own paragraphs are unreliable on Thai; a paragraph ends where the space down
    # to the next line is more than a blank line's worth (PARAGRAPH_GAP line heights).
    paragraphs: list[str] = []
    bottom = None
    for line in lines:
        text = _joined(line)
        if paragraphs and line["top"] - bottom < PARAGRAPH_GAP * median:
            glue = "" if _is_thai(paragraphs[-1][-1]) and _is_thai(text[0]) else " "
            paragraphs[-1] += glue + text
        else:
            paragraphs.append(text)
        bottom = line["top"] + line["height"]
    confidences = [w[3] for line in lines for w in line["words"] if w[3] >= 0]
    return Recognised("\n".join(paragraphs).strip(),
                      round(statistics.fmean(confidences), 1) if confidences else None)


def page_scale(width_pt: float, height_pt: float, dpi: int = DPI) -> float:
    """The render scale of a PDF page for OCR: `dpi`, less for a page so large that its image
    would pass MAX_PIXELS."""
    scale = dpi / 72
    pixels = width_pt * height_pt * scale * scale
    return scale if pixels <= MAX_PIXELS else scale * (MAX_PIXELS / pixels) ** 0.5
