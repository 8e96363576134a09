"""Corpus adapters, one module per corpus, registered here by name."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from jobs import cremad, emodb, esd, iemocap, meld, mosei, msp_podcast, ravdess, savee, tess
from jobs.base import Adapter, CorpusError, ScanResult, hash_media, manifest_table, open_root
from schemas import ERROR_SCHEMA, validate_table
from schemas.labels import load_label_schema

ADAPTERS: dict[str, Adapter] = {
    m.ADAPTER.name: m.ADAPTER
    for m in (cremad, emodb, esd, iemocap, meld, mosei, msp_podcast, ravdess, savee, tess)
}


@dataclass
class Manifest:
    table: pa.Table  # MANIFEST_SCHEMA, sorted by utt_id
    problems: pa.Table  # ERROR_SCHEMA rows with stage="manifest"


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
    return Manifest(table=manifest_table(result.rows), problems=problems)


__all__ = ["ADAPTERS", "Adapter", "CorpusError", "Manifest", "build_manifest", "get_adapter"]
