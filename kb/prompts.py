"""The prompt templates and answer scaffolds in `prompts/` (Thai, data files, not Python
strings), read by both drafters. KB_PROMPTS_DIR points at another folder (an agency's own
wording)."""
from __future__ import annotations

import os
from pathlib import Path
from string import Template

# kb/data/prompts is a link to the top-level prompts/ folder, so that the files are package data
# and a wheel or a non-editable install carries them (a folder beside the package is not shipped).
PROMPTS = Path(__file__).with_name("data") / "prompts"


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
