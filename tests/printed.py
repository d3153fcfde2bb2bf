"""Printed Thai pages as images, and the character error rate of reading them back: shared
by the OCR tests and bench/ocr.py, so that both measure the same kind of page."""
from __future__ import annotations

import random
import unicodedata
from pathlib import Path

FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")


def printed_page(text: str, dpi: int = 300, scanned: bool = False, seed: int = 0, align: str = "L"):
    """`text` printed on an A4 page as Word would shape it (marks above and below their
    letters), rendered as a grey image; `scanned`: turned 1–3°, blurred and noisy, as a
    flatbed scan of the printout."""
    import pypdfium2 as pdfium
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_font("Garuda", fname=str(FONT))
    pdf.set_font("Garuda", size=14)
    pdf.set_text_shaping(True)
    pdf.add_page()
    pdf.multi_cell(0, 7.5, text, align=align)
    image = pdfium.PdfDocument(bytes(pdf.output()))[0].render(scale=dpi / 72).to_pil().convert("L")
    return _scanned(image, dpi, seed) if scanned else image


def _scanned(image, dpi: int, seed: int):
    import numpy as np
    from PIL import Image, ImageFilter
    rng = random.Random(seed)
    angle = rng.uniform(1, 3) * rng.choice((-1, 1))
    image = image.rotate(angle, expand=True, fillcolor=255, resample=3)
    image = image.filter(ImageFilter.GaussianBlur(radius=0.7 * dpi / 300))
    pixels = np.asarray(image, dtype=np.float32)
    noisy = pixels + np.random.default_rng(seed).normal(0, 12, pixels.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def squash(text: str) -> str:
    """The text compared: Thai normalised (mark order, digits kept), whitespace dropped — OCR
    is not judged on where it put spaces."""
    from textmodel import thai
    return "".join(thai.normalize(unicodedata.normalize("NFC", text)).split())


def cer(truth: str, got: str) -> float:
    """Character error rate: edit distance over the length of the truth."""
    from rapidfuzz.distance import Levenshtein
    t, g = squash(truth), squash(got)
    return Levenshtein.distance(t, g) / max(len(t), 1)
