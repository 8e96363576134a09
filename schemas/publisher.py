"""What publishers state about their corpora (expected counts, documented bad media), as data.

The facts live in `publisher.toml` beside this file; `jobs/reconcile.py` compares them with
every manifest.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class ExpectedCounts:
    subset: str
    source: str
    total: int | None = None
    splits: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    where: dict[str, str] | None = None  # {field, value} on the row's meta
    optional: bool = False
    release: str | None = None


@dataclass(frozen=True)
class CorpusFacts:
    counts: tuple[ExpectedCounts, ...]
    known_bad: dict[str, str]  # utt_id -> why


def _check(corpus: str, entry: dict[str, Any]) -> ExpectedCounts:
    where = f"publisher.toml: {corpus}.counts"
    unknown = set(entry) - {"subset", "source", "total", "splits", "labels", "where", "optional",
                            "release"}
    if unknown or "subset" not in entry or "source" not in entry:
        raise ValueError(f"{where}: expected subset, source and optional total, splits, labels, "
                         f"where, optional, release; got {sorted(entry)}")
    for key in ("splits", "labels"):
        if not all(isinstance(v, int) and v >= 0 for v in entry.get(key, {}).values()):
            raise ValueError(f"{where}.{key}: counts must be integers >= 0")
    return ExpectedCounts(**entry)


@cache
def load_publisher_facts() -> dict[str, CorpusFacts]:
    raw = tomllib.loads(resources.files("mer_etl.schemas").joinpath("publisher.toml")
                        .read_text("utf-8"))
    return {corpus: CorpusFacts(counts=tuple(_check(corpus, e) for e in spec.get("counts", [])),
                                known_bad=dict(spec.get("known_bad", {})))
            for corpus, spec in raw.items()}
