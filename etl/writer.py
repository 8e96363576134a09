"""Turns the processed rows of one shard into its files: the base tar, and per extractor a
feature part, a WebDataset tar and a status part.

`write_shard` is what the writer actor runs (etl/collect.py hands it a shard once all its
utterances are processed): the feature bytes go from the object store to the output URI on
that worker, and the driver gets back only each file's sha256 and size, hashed while writing.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import webdataset as wds

from mer_etl import extractors, words
from mer_etl.contract import DURATION, NATIVE_RATE, blob_column, outcome_column
from mer_etl.extractors import Extractor
from mer_etl.layout import LAYOUT
from mer_etl.media.arrays import rows_to_table, unpack
from mer_etl.schemas import STATUS_SCHEMA, validate_table
from mer_etl.store import Store


def status_row(row: dict[str, Any], name: str) -> dict[str, Any]:
    """The status part's row for one utterance and one extractor: its outcome as the stage
    built it (etl.contract), with the utterance's duration and native sample rate."""
    outcome = row[outcome_column(name)]
    return {"utt_id": row["utt_id"], "extractor": name,
            **{k: outcome[k] for k in ("status", "stage", "reason", "message")},
            "duration_s": row.get(DURATION),
            # the stream's own rate, known where some extractor decoded at it (eGeMAPS does)
            "sample_rate": row.get(NATIVE_RATE)}


def _tar(samples: list[dict[str, bytes | str]]) -> bytes:
    buf = io.BytesIO()
    # mtime fixed and owner anonymous so the same samples give byte-identical tars. An int:
    # tarfile writes a float mtime as an extra 1 KiB PAX header before every member.
    with wds.TarWriter(buf, user="", group="", mtime=0, encoder=False) as tar:
        for sample in samples:
            tar.write(sample)
    return buf.getvalue()


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False).encode()


class ShardWriter:
    def __init__(self, store: Store, manifest: dict[str, dict[str, Any]]) -> None:
        self.store = store
        self.manifest = manifest  # utt_id -> manifest row (the base sample's json)

    def write_base(self, shard: int, utt_ids: Sequence[str]) -> None:
        samples = []
        for uid in sorted(utt_ids):
            meta = dict(self.manifest[uid])
            meta["meta"] = json.loads(meta["meta"]) if meta.get("meta") else None
            samples.append({"__key__": uid, "json": _json(meta)})
        self.store.write_bytes(LAYOUT.base_tar(shard), _tar(samples))

    def write_extractor(self, ex: Extractor, shard: int, rows: list[dict[str, Any]]) -> None:
        """Feature part, tar and status part (last: it marks the unit complete)."""
        rows = sorted(rows, key=lambda r: r["utt_id"])
        statuses = [status_row(r, ex.name) for r in rows]
        arrays = {r["utt_id"]: unpack(r[blob_column(ex.name)])
                  for r, s in zip(rows, statuses, strict=True) if s["status"] == "ok"}
        schema = ex.schema()
        table = rows_to_table([{"utt_id": uid, **ex.to_row(a)} for uid, a in arrays.items()],
                              schema)
        self.store.write_table(LAYOUT.feature_part(ex.name, shard),
                               validate_table(table, schema, f"{ex.name} features, shard {shard}"))
        samples = []
        for st in statuses:
            sample: dict[str, bytes | str] = {
                "__key__": st["utt_id"],
                f"{ex.name}.status.json": _json({k: st[k] for k in ("status", "stage", "reason",
                                                                    "duration_s")}),
            }
            if st["utt_id"] in arrays:
                for suffix, data in ex.tar_members(arrays[st["utt_id"]]).items():
                    sample[f"{ex.name}.{suffix}"] = data
            samples.append(sample)
        self.store.write_bytes(LAYOUT.extractor_tar(ex.name, shard), _tar(samples))
        status = pa.Table.from_pylist(statuses, schema=STATUS_SCHEMA)
        self.store.write_table(LAYOUT.status_part(ex.name, shard),
                               validate_table(status, STATUS_SCHEMA, f"{ex.name} status"))


_BUILT: dict[str, Extractor] = {}  # per worker process: schema and packing only, no models


def _extractor(name: str, device: str, config: dict[str, Any]) -> Extractor:
    key = json.dumps([name, device, config], sort_keys=True, default=str)
    if key not in _BUILT:
        _BUILT[key] = extractors.build(name, device=device, **config)
    return _BUILT[key]


def warm(specs: list[tuple[str, dict[str, Any]]], device: str) -> None:
    """Build the extractors a writer will need (their modules imported) ahead of time."""
    for name, config in specs:
        _extractor(name, device, config)


def write_shard(store: Store, shard: int, units: list[str], manifest: list[dict[str, Any]],
                specs: list[tuple[str, dict[str, Any]]], device: str, expected: int,
                rows: list[dict[str, Any]], blocks: Sequence[pa.Table], view: bool = False
                ) -> dict[str, tuple[str, int]]:
    """Write `units` (the base, extractor names) of one shard from its processed rows: those
    given as values (the quarantine's) and those of `shard` inside `blocks` (processed
    batches, each possibly holding rows of a neighbouring shard too); `specs` are every
    extractor of the plan. With `view`, then the shard's word-view part where it is missing:
    all the units it reads are complete by now. Returns {path: (sha256, bytes)} of every file
    written."""
    rows = list(rows)
    for block in blocks:
        rows.extend(block.filter(pc.equal(block["shard"], shard)).to_pylist())
    if len(rows) != expected:  # a wrong slice would write a short shard and mark it complete
        raise RuntimeError(f"shard {shard}: {len(rows)} processed utterances arrived for "
                           f"writing, {expected} expected")
    writer = ShardWriter(store, {r["utt_id"]: r for r in manifest})
    if LAYOUT.base in units:
        writer.write_base(shard, [r["utt_id"] for r in rows])
    for name, config in specs:
        if name in units:
            writer.write_extractor(_extractor(name, device, config), shard, rows)
    if view and not store.exists(LAYOUT.view_part(words.UNIT, shard)):
        words.write_part(store, shard, [_extractor(name, device, config) for name, config in specs])
    return dict(store.written)
