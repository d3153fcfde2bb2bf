"""The library: the folder under the data directory that holds the file of every document.

A document is named by its path in the library: an upload by its file name, a file ingested from
the command line by its path under the folder named (`kb ingest corpus` names
corpus/plans/plan.pdf "plans/plan.pdf", `kb ingest corpus/plans/plan.pdf` names it "plan.pdf").
The command line copies files into the library, so the command line and the web app agree on what
"the same document" is (an upload of plan.pdf is a new version of the one ingested from a folder),
and a backup holds every original.

A new version never destroys the file of the old one: the replaced file is kept under
`.versions/<name>/<sha256><suffix>`, so the text the store still holds for it (until the new
version's ingest ends, or for good when that ingest fails) can always be shown from its own file.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO

FOLDER = "uploads"        # the library's folder in the data directory (named when only uploads lived there)
VERSIONS = ".versions"    # a hidden folder: folder walks skip it
COPY_BLOCK = 1 << 20


def safe_name(name: str) -> str:
    """One path part without characters a file system or shell dislikes; Thai letters (and their
    combining marks) are kept, so the same name from a browser and from a folder agree."""
    name = unicodedata.normalize("NFC", Path(name.replace("\\", "/")).name).strip()
    name = re.sub(r"[^\w\u0E00-\u0E7F.\- ()]+", "_", name).strip(" .")
    return name[:200] or "upload"


def name_under(path: Path, roots: list[Path]) -> str:
    """The library name of a file met while ingesting `roots`: its path under the first folder
    of `roots` that holds it, else its own file name."""
    path = path.resolve()
    for root in roots:
        root = root.resolve()
        if root.is_dir() and path.is_relative_to(root):
            return "/".join(safe_name(part) for part in path.relative_to(root).parts)
    return safe_name(path.name)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(COPY_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


class Library:
    def __init__(self, folder: Path):
        self.dir = Path(folder)

    def path(self, name: str) -> Path:
        return self.dir.resolve() / name

    def holds(self, path: Path) -> bool:
        """Whether `path` is a document file of the library (not a kept old version)."""
        try:
            rel = Path(path).resolve().relative_to(self.dir.resolve())
        except ValueError:
            return False
        return bool(rel.parts) and rel.parts[0] != VERSIONS

    def name_of(self, path: Path) -> str:
        return Path(path).resolve().relative_to(self.dir.resolve()).as_posix()

    def put(self, source: Path | BinaryIO, name: str, digest: str | None = None) -> Path:
        """Write `source` (a file, or an open binary stream) as `name`; the file it replaces, if
        its content differs, is kept as an old version. Only a complete file ever appears under
        the real name, and two writers never share a part file. `digest`: the source file's
        sha256 when the caller has it (a re-ingest of an unchanged folder then hashes only the
        library's copies, and only those of the same size)."""
        dest = self.path(name)
        if isinstance(source, Path) and (source.resolve() == dest or (
                dest.is_file() and dest.stat().st_size == source.stat().st_size
                and sha256_of(dest) == (digest or sha256_of(source)))):
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, Path):
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, out, COPY_BLOCK)
                else:
                    shutil.copyfileobj(source, out, COPY_BLOCK)
            if dest.is_file():
                self._keep(dest, sha256_of(dest))
            os.replace(part, dest)
        except BaseException:
            Path(part).unlink(missing_ok=True)
            raise
        return dest

    def _keep(self, current: Path, digest: str) -> None:
        kept = self._version_path(self.name_of(current), digest, current.suffix)
        if kept.exists():
            return
        kept.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(current, kept)      # same bytes, no copy: the rename that follows unlinks the name only
        except OSError:
            shutil.copy2(current, kept)

    def _version_path(self, name: str, digest: str, suffix: str) -> Path:
        return self.dir.resolve() / VERSIONS / name / f"{digest}{suffix.lower()}"

    def file_with(self, name: str, digest: str) -> Path | None:
        """The file of `name` whose content has this sha256: the current one or a kept version."""
        current = self.path(name)
        if current.is_file() and sha256_of(current) == digest:
            return current
        kept = self._version_path(name, digest, current.suffix)
        return kept if kept.is_file() else None

    def remove(self, name: str) -> None:
        """Delete a document's file and its kept versions."""
        self.path(name).unlink(missing_ok=True)
        shutil.rmtree(self.dir.resolve() / VERSIONS / name, ignore_errors=True)
