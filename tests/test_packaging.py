"""A wheel (what `pip install .` installs) carries every file the packages read at run time:
the catalogue, params, concept list, prompts, templates, static files and migrations."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _source_files() -> set[str]:
    """Every file of the four packages as the installed tree names it (kb/data/prompts is a
    link to prompts/, so the prompts appear under it)."""
    out = set()
    for package in ("kb", "ingest", "api", "textmodel"):
        for folder, dirs, files in os.walk(ROOT / package, followlinks=True):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            out |= {(Path(folder) / f).relative_to(ROOT).as_posix() for f in files if not f.endswith(".pyc")}
    return out


def test_wheel_carries_every_package_file(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel, = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _source_files()
    assert {"kb/data/concepts.tsv", "kb/data/params.toml", "kb/data/prompts/draft-system.txt"} <= expected
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"
