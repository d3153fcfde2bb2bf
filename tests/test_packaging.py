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


import pytest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(ROOT)], check=True, capture_output=True)
    built, = out.glob("*.whl")
    return built


def test_wheel_carries_every_package_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _source_files()
    assert {"kb/data/concepts.tsv", "kb/data/params.toml", "kb/data/prompts/draft-system.txt"} <= expected
    missing = sorted(expected - names)
    assert not missing, f"not in the wheel: {missing}"


@pytest.mark.slow
def test_the_installed_wheel_ingests_finds_evidence_and_drafts(wheel, tmp_path):
    """The wheel installed on its own (not the source tree) runs the main commands; its
    dependencies come from this environment."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("risk-management-plan-2564.pdf", "efiling-monthly-2564.xlsx"):
        (docs / name).write_bytes((ROOT / "corpus" / name).read_bytes())
    # PYTHONPATH comes before the editable install's finder, and the working directory is not
    # the repository: every module, data file and prompt is read from the installed copy
    env = {**os.environ, "PYTHONPATH": str(site), "KB_DATA_DIR": str(tmp_path / "data")}
    env.pop("KB_DATABASE_URL", None)

    def kb(*args: str) -> str:
        run = subprocess.run([sys.executable, "-c", "import sys, kb.cli; sys.exit(kb.cli.main())", *args],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        return run.stdout

    where = subprocess.run([sys.executable, "-c", "import kb, ingest, api; print(kb.__file__, api.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert where.count(str(site)) == 2
    assert "2 ingested" in kb("ingest", str(docs), "--quiet")
    assert "risk-management-plan-2564.pdf" in kb("evidence", "4.4.1", "-k", "2")
    draft = kb("draft", "4.4.1")
    assert "DR Site" in draft and "[1]" in draft
