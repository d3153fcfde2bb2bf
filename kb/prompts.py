"""The prompt templates and answer scaffolds in `prompts/` (Thai, data files, not Python
strings), read by both drafters. KB_PROMPTS_DIR points at another folder (an agency's own
wording)."""
from __future__ import annotations

import os
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).resolve().parents[1] / "prompts"


def prompts_dir() -> Path:
    return Path(os.environ.get("KB_PROMPTS_DIR") or PROMPTS)


def template(name: str) -> Template:
    return Template((prompts_dir() / name).read_text(encoding="utf-8"))


def evidence_hints() -> list[tuple[str, str]]:
    """(word of the wording, kind of evidence that would show it) from evidence-hints.tsv."""
    rows = []
    for line in (prompts_dir() / "evidence-hints.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            word, hint = line.split("\t", 1)
            rows.append((word.strip(), hint.strip()))
    return rows
