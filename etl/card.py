"""The dataset card (schemas/card.py): what a version holds, how it was made, and the sha256
of every file. Written last, so its presence marks the version complete."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mer_etl import cues, words
from mer_etl import version as versioning
from mer_etl.jobs import agreement
from mer_etl.layout import LAYOUT
from mer_etl.plan import Plan
from mer_etl.schemas import ERROR_SCHEMA, MANIFEST_SCHEMA, STATUS_SCHEMA, validate_table
from mer_etl.schemas.card import validate_card
from mer_etl.store import Store


def _errors(p: Plan, statuses: pa.Table) -> pa.Table:
    """Manifest problems plus every failed status, a decode failure listed once per utterance."""
    where = {r["utt_id"]: r for r in p.manifest.select(["utt_id", "corpus", "audio_uri"])
             .to_pylist()}
    rows, seen = [], set()
    for st in statuses.filter(pc.equal(statuses["status"], "failed")).to_pylist():
        stage = "decode" if st["stage"] == "decode" else st["extractor"]
        if (st["utt_id"], stage) in seen:
            continue
        seen.add((st["utt_id"], stage))
        utt = where[st["utt_id"]]
        rows.append({"corpus": utt["corpus"], "utt_id": st["utt_id"], "path": utt["audio_uri"],
                     "stage": stage, "error_type": st["reason"], "message": st["message"]})
    table = pa.concat_tables([p.problems, pa.Table.from_pylist(rows, schema=ERROR_SCHEMA)])
    return validate_table(table, ERROR_SCHEMA, "errors")


def write(p: Plan, stats: dict[str, Any], t0: float) -> dict[str, Any]:
    """Write the version's tables and then its card (last: the card marks it complete)."""
    store, manifest = p.store, p.manifest
    statuses = pa.concat_tables(
        [pa.Table.from_pylist([], schema=STATUS_SCHEMA)]
        + [store.read_table(LAYOUT.status_part(ex.name, s))
           for ex in p.extractors for s in range(p.n_shards)])
    errors = _errors(p, statuses)
    store.write_table(LAYOUT.errors, errors)
    store.write_table(LAYOUT.utterances, validate_table(manifest, MANIFEST_SCHEMA, "utterances"))
    if p.ratings is not None and p.ratings.num_rows:
        store.write_table(LAYOUT.ratings, p.ratings)
    files = {}
    for rel in store.files():
        sha, size = store.digest(rel)
        files[rel] = {"sha256": sha, "bytes": size}
    failed = _counts(errors, "stage")
    reused = stats.get("reused", {})
    card = {
        "name": p.name,
        "version": p.version,
        # Donors are tried newest first, so the first unit reused names the newest parent.
        "parent": next(iter(reused.values()), None),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": versioning.code_revision(),
        "format_version": versioning.FORMAT_VERSION,
        "label_schema": p.inputs["label_schema"],
        "corpora": {
            c: {"root": r, "utterances": int(pc.sum(pc.equal(manifest["corpus"], c)).as_py())}
            for c, r in p.corpora.items()
        },
        "config": p.config,
        "extractors": {
            e.name: {**e.fingerprint(), **e.describe(), "presents": e.presents,
                     "failed": failed.get(e.name, 0),
                     "report": [item.as_dict() for item in e.report()],
                     "status": _status_counts(statuses, e.name),
                     "reused_from": reused.get(e.name)}
            for e in p.extractors
        },
        "counts": {
            "utterances": manifest.num_rows,
            "shards": p.n_shards,
            "errors": errors.num_rows,
            "errors_by_stage": failed,
            "by_split": _counts(manifest, "split"),
            "by_label": _counts(manifest, "label"),
            "by_corpus_label": _corpus_label_counts(manifest),
            "unlabeled": _unlabeled(manifest),
            "problems_by_type": _counts(p.problems, "error_type"),
            "reconciliation": p.reconciliation,
            # annotator agreement per corpus and presentation (jobs/agreement.py)
            "agreement": agreement.corpus_agreement(manifest, p.ratings),
        },
        "views": _views(store, p, stats),
        "provenance": p.inputs,
        "run": {**stats, "wall_seconds": round(time.perf_counter() - t0, 3)},
        "files": files,
    }
    validate_card(card)
    store.write_card(card)  # the card goes last: its presence marks the version complete
    return card


def _views(store: Store, p: Plan, stats: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if cues.UNIT in p.units:
        used = cues.sources(p.extractors)
        out[cues.UNIT] = {"table": LAYOUT.cues, "rows": stats["cues_rows"],
                          "sources": {e: [] for e in used}, **cues.settings()}
        if stats.get("cues_word_rows") is not None:
            out[cues.UNIT] |= {"words_table": LAYOUT.cues_words,
                               "word_rows": stats["cues_word_rows"]}
    srcs = p.views()
    if not srcs:
        return out
    rows = sum(store.read_table(LAYOUT.view_part(words.UNIT, s)).num_rows
               for s in range(p.n_shards))
    out[words.UNIT] = {"table": LAYOUT.view_glob(words.UNIT), "rows": rows,
                       "sources": {s.extractor: list(s.frames) for s in srcs},
                       "rule": "mean of the frames whose centre lies in [start, end); "
                               "the nearest frame for shorter words"}
    return out


def _status_counts(statuses: pa.Table, name: str) -> dict[str, int]:
    return _counts(statuses.filter(pc.equal(statuses["extractor"], name)), "status")


def _corpus_label_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for corpus, label in zip(table["corpus"].to_pylist(), table["label"].to_pylist(), strict=True):
        out[corpus]["null" if label is None else label] += 1
    return {c: dict(sorted(v.items())) for c, v in sorted(out.items())}


def _unlabeled(table: pa.Table) -> list[dict[str, Any]]:
    """Every native code whose canonical label is null, with why and how often."""
    rows = table.filter(pc.is_null(table["label"])).select(
        ["corpus", "label_native", "label_status"]).to_pylist()
    seen: dict[tuple, int] = defaultdict(int)
    for r in rows:
        seen[(r["corpus"], r["label_native"], r["label_status"])] += 1
    return [{"corpus": c, "label_native": n, "label_status": s, "utterances": k}
            for (c, n, s), k in sorted(seen.items(), key=lambda x: tuple(map(str, x[0])))]


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for v in table[column].to_pylist():
        out["null" if v is None else v] += 1
    return dict(sorted(out.items()))
