"""Corpus adapters, one module per corpus, registered here by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from jobs import cremad, emodb, esd, iemocap, meld, mosei, msp_podcast, ravdess, savee, tess
from jobs.base import (
    Adapter,
    CorpusError,
    ScanResult,
    hash_media,
    manifest_table,
    open_root,
    ratings_table,
)
from jobs.reconcile import flag_known_bad, reconcile
from schemas import ERROR_SCHEMA, RATINGS_SCHEMA, validate_table
from schemas.labels import load_label_schema

ADAPTERS: dict[str, Adapter] = {
    m.ADAPTER.name: m.ADAPTER
    for m in (cremad, emodb, esd, iemocap, meld, mosei, msp_podcast, ravdess, savee, tess)
}


@dataclass
class Manifest:
    table: pa.Table  # MANIFEST_SCHEMA, sorted by utt_id
    problems: pa.Table  # ERROR_SCHEMA rows with stage="manifest"
    # found vs the publisher's stated counts, per subset and split (jobs/reconcile.py)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    ratings: pa.Table = field(default_factory=lambda: RATINGS_SCHEMA.empty_table())


def get_adapter(name: str) -> Adapter:
    try:
        return ADAPTERS[name]
    except KeyError:
        raise CorpusError(
            f"unknown corpus {name!r}; known corpora: {', '.join(sorted(ADAPTERS))}"
        ) from None


def build_manifest(corpus: str | Adapter, root: str, label_version: str = "v1") -> Manifest:
    """Scan a corpus root in its native layout into the uniform manifest."""
    adapter = corpus if isinstance(corpus, Adapter) else get_adapter(corpus)
    corpus = adapter.name
    fs, path = open_root(root, corpus, adapter.layout)
    result: ScanResult = adapter.scan(fs, path, load_label_schema(label_version))
    hash_media(fs, result, corpus)
    flag_known_bad(corpus, result.rows, result.problems)
    if not result.rows:
        found = f"; {len(result.problems)} unusable file(s), first: " if result.problems else ""
        first = (
            f"{result.problems[0]['path']}: {result.problems[0]['message']}"
            if result.problems
            else ""
        )
        raise CorpusError(
            f"{corpus}: no usable media under {root!r} (expected {adapter.layout}){found}{first}"
        )
    problems = validate_table(
        pa.Table.from_pylist(result.problems, schema=ERROR_SCHEMA), ERROR_SCHEMA, "problems"
    )
    table = manifest_table(result.rows)
    return Manifest(table=table, problems=problems,
                    reconciliation=reconcile(corpus, result.rows, result.problems,
                                             result.release),
                    ratings=ratings_table(result.ratings, table))


__all__ = ["ADAPTERS", "Adapter", "CorpusError", "Manifest", "build_manifest", "get_adapter"]
