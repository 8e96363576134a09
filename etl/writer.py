"""Turns processed rows of one shard into its files: feature parts, a WebDataset tar, errors."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import webdataset as wds

from etl.arrays import npy_bytes, unpack
from etl.store import Store, feature_part, shard_marker, shard_tar
from extractors import Extractor
from schemas import ERROR_SCHEMA, validate_table


def _status(row: dict[str, Any], stage: str) -> str:
    if row.get(f"{stage}_error_type"):
        return "failed"
    return "ok" if row.get(f"{stage}_blob" if stage != "decode" else "duration_s") else "skipped"


def error_rows(rows: Sequence[dict[str, Any]], stages: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        for stage in stages:
            if row.get(f"{stage}_error_type"):
                out.append({
                    "corpus": row["corpus"],
                    "utt_id": row["utt_id"],
                    "path": row["audio_uri"],
                    "stage": stage,
                    "error_type": row[f"{stage}_error_type"],
                    "message": row[f"{stage}_error"],
                })
    return out


class ShardWriter:
    def __init__(self, store: Store, extractors: Sequence[Extractor],
                 manifest: dict[str, dict[str, Any]]) -> None:
        self.store = store
        self.extractors = list(extractors)
        self.manifest = manifest  # utt_id -> manifest row (labels and meta for the sample json)
        self.stages = ["decode", *(e.name for e in self.extractors)]

    def write(self, shard: int, rows: list[dict[str, Any]]) -> None:
        rows = sorted(rows, key=lambda r: r["utt_id"])
        arrays = {
            ex.name: {r["utt_id"]: unpack(r[f"{ex.name}_blob"])
                      for r in rows if r.get(f"{ex.name}_blob")}
            for ex in self.extractors
        }
        for ex in self.extractors:
            table_rows = [{"utt_id": uid, **ex.to_row(a)} for uid, a in arrays[ex.name].items()]
            schema = ex.schema()
            table = validate_table(pa.Table.from_pylist(table_rows, schema=schema), schema,
                                   f"{ex.name} features, shard {shard}")
            self.store.write_table(feature_part(ex.name, shard), table)
        self.store.write_bytes(shard_tar(shard), self._tar(rows, arrays))
        errors = pa.Table.from_pylist(error_rows(rows, self.stages), schema=ERROR_SCHEMA)
        # The marker goes last: a shard with a marker has all of its files.
        self.store.write_table(shard_marker(shard),
                               validate_table(errors, ERROR_SCHEMA, f"errors, shard {shard}"))

    def _tar(self, rows: list[dict[str, Any]], arrays: dict[str, dict[str, Any]]) -> bytes:
        buf = io.BytesIO()
        # mtime fixed and owner anonymous so the same samples give byte-identical tars.
        with wds.TarWriter(buf, user="", group="", mtime=0.0, encoder=False) as tar:
            for row in rows:
                uid = row["utt_id"]
                meta = dict(self.manifest[uid])
                meta["meta"] = json.loads(meta["meta"]) if meta.get("meta") else None
                meta["duration_s"] = row.get("duration_s")
                meta["status"] = {stage: _status(row, stage) for stage in self.stages}
                sample = {
                    "__key__": uid,
                    "json": json.dumps(meta, sort_keys=True, ensure_ascii=False).encode(),
                }
                for ex in self.extractors:
                    for field, array in arrays[ex.name].get(uid, {}).items():
                        sample[f"{ex.name}.{field}.npy"] = npy_bytes(array)
                tar.write(sample)
        return buf.getvalue()
