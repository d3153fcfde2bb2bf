"""What the app holds for its lifetime: one KnowledgeBase, one ReviewDB, one job queue.

Created once at startup (loading the embedding model and opening Chroma take seconds; doing it
per request would also open the store many times over).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from kb.queue import JobQueue
from kb.review import ReviewDB

DEFAULT_UPLOAD_MB = 50


@dataclass
class Limits:
    upload_bytes: int = DEFAULT_UPLOAD_MB * 1024 * 1024
    files_per_upload: int = 20

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(upload_bytes=int(float(os.environ.get("KB_UPLOAD_MAX_MB", DEFAULT_UPLOAD_MB)) * 1024 * 1024),
                   files_per_upload=int(os.environ.get("KB_UPLOAD_MAX_FILES", cls.files_per_upload)))


@dataclass
class AppContext:
    kb: object                      # kb.service.KnowledgeBase
    db: ReviewDB
    jobs: JobQueue                  # enqueues; the worker process (`kb worker`) runs the jobs
    upload_dir: Path
    limits: Limits = field(default_factory=Limits)
    draft_fn: Callable | None = None     # None: kb.draft.draft_criterion, imported on first use

    @property
    def catalogue(self):
        return self.kb.catalogue
