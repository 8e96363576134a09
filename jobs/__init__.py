"""Corpus adapters, registered here by name: one module per corpus whose layout needs code,
one definition file in jobs/corpora/ per corpus the generic pattern adapter reads."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import pyarrow as pa

from mer_etl.jobs import (
    agreement,
    chsims,
    cremad,
    custom,
    emns,
    esd,
    iemocap,
    meld,
    mer2023,
    mosei,
    msp_podcast,
    pavoque,
    ravdess,
)
from mer_etl.jobs.base import (
    Adapter,
    CorpusError,
    ScanResult,
    hash_media,
    manifest_table,
    open_root,
    ratings_table,
)
from mer_etl.jobs.reconcile import flag_known_bad, reconcile
from mer_etl.schemas import ERROR_SCHEMA, RATINGS_SCHEMA, validate_table
from mer_etl.schemas.labels import load_label_schema


def _definitions() -> list[Adapter]:
    """The corpora defined by one data file each (jobs/corpora/*.yaml)."""
    folder = resources.files("mer_etl.jobs").joinpath("corpora")
    return [custom.make_adapter(custom.load_job(str(f)))
            for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".yaml")]


def _titled(adapter: Adapter) -> Adapter:
    """A corpus's title, modality and licence are data (its section of the label schema, or
    its definition file), not code."""
    facts = load_label_schema().corpora.get(adapter.name, {})
    return replace(adapter, title=adapter.title or facts.get("title", adapter.name),
                   modality=adapter.modality or facts.get("modality", "audio"),
                   license=adapter.license or facts.get("license", "not stated"))


ADAPTERS: dict[str, Adapter] = {
    a.name: _titled(a)
    for a in [*(m.ADAPTER for m in (chsims, cremad, emns, esd, iemocap, meld, mer2023, mosei,
                                    msp_podcast, pavoque, ravdess)),
              chsims.V2_ADAPTER, mosei.MOSI_ADAPTER, *_definitions()]
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
        # thirty-odd names do not fit one terminal line: the closest ones, and where the rest are
        close = difflib.get_close_matches(name, ADAPTERS, n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise CorpusError(f"unknown corpus {name!r}; {hint}`mer-etl corpora` lists the "
                          f"{len(ADAPTERS)} known ones") from None


def build_manifest(corpus: str | Adapter, root: str, label_version: str = "v1") -> Manifest:
    """Scan a corpus root in its native layout into the uniform manifest."""
    adapter = corpus if isinstance(corpus, Adapter) else get_adapter(corpus)
    corpus = adapter.name
    fs, path = open_root(root, corpus, adapter.layout)
    labels = load_label_schema(label_version)
    result: ScanResult = adapter.scan(fs, path, labels)
    agreement.from_ratings(result.rows, result.ratings, labels)
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
    rows = [r.manifest() for r in result.rows]  # once, for the table and the reconciliation
    table = manifest_table(rows)
    return Manifest(table=table, problems=problems,
                    reconciliation=reconcile(corpus, rows, result.problems,
                                             result.release),
                    ratings=ratings_table(result.ratings, table))


__all__ = ["ADAPTERS", "Adapter", "CorpusError", "Manifest", "build_manifest", "get_adapter"]
