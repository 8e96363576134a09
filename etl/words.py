"""The word-aligned view (CMU-MultimodalSDK's "align to words"): for each ASR word, the mean of
every frame-level feature over the word's span, written as its own table per shard:
`words/part-NNNNNN.parquet`, one row per word.

It is derived from the shard's feature parts (asr words; eGeMAPS LLDs; wav2vec frames), so it
is built after them, by content key like any unit, and rebuilt when one of them is recomputed.
A frame belongs to a word when the frame's centre lies inside [start, end); a word shorter
than one frame step takes the frame nearest its midpoint, so every timed word gets a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from etl import version as versioning
from etl.layout import LAYOUT
from etl.store import Store

VERSION = "1"
UNIT = "words"


@dataclass(frozen=True)
class Source:
    extractor: str
    frames: dict[str, str]  # feature column -> words-table column
    times: str  # column of frame start times (s)
    window_s: float  # frame length, to place each frame's centre
    needs: str  # config key that must be true for the frames to exist


SOURCES = [
    Source("egemaps", {"lld": "egemaps_lld"}, "lld_times", 0.02, "lld"),
    Source("wav2vec", {"frames_last": "wav2vec_last", "frames_mean": "wav2vec_mean"},
           "frame_times", 0.025, "frames"),
]


def sources(exs: list[Any]) -> list[Source]:
    """The frame-level sources this run produces; empty when there is no ASR to align to."""
    by_name = {ex.name: ex for ex in exs}
    if "asr" not in by_name:
        return []
    return [s for s in SOURCES if s.extractor in by_name
            and by_name[s.extractor].config.get(s.needs, False)]


def unit_key(units: dict[str, str], srcs: list[Source]) -> str:
    return versioning.digest({"view": UNIT, "version": VERSION, "asr": units["asr"],
                              **{s.extractor: units[s.extractor] for s in srcs}})


def schema(srcs: list[Source]) -> pa.Schema:
    vec = pa.list_(pa.float32())
    fields = [pa.field("utt_id", pa.string(), nullable=False),
              pa.field("word_index", pa.int32(), nullable=False),
              pa.field("word", pa.string()), pa.field("start", pa.float32()),
              pa.field("end", pa.float32()), pa.field("score", pa.float32())]
    for s in srcs:
        fields += [pa.field(col, vec) for col in s.frames.values()]
        fields.append(pa.field(f"{s.extractor}_frames", pa.int32()))  # frames averaged
    return pa.schema(fields)


def frame_index(times: np.ndarray, window_s: float, start: float, end: float) -> np.ndarray:
    """Indices of the frames whose centre lies in [start, end), or the nearest one."""
    if times.size == 0:
        return np.zeros(0, dtype=np.int64)
    centre = times + window_s / 2
    inside = np.flatnonzero((centre >= start) & (centre < end))
    if inside.size:
        return inside
    return np.array([int(np.argmin(np.abs(centre - (start + end) / 2)))])


def _by_utt(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["utt_id"]: r for r in table.to_pylist()}


def build(store: Store, shard: int, srcs: list[Source]) -> pa.Table:
    words = _by_utt(store.read_table(LAYOUT.feature_part("asr", shard)).select(["utt_id", "words"]))
    feats = {s.extractor: _by_utt(store.read_table(LAYOUT.feature_part(s.extractor, shard)).select(
        ["utt_id", s.times, *s.frames])) for s in srcs}
    rows = []
    for uid in sorted(words):
        for i, w in enumerate(words[uid]["words"] or []):
            row = {"utt_id": uid, "word_index": i, **{k: w[k] for k in
                                                       ("word", "start", "end", "score")}}
            for s in srcs:
                frames = feats[s.extractor].get(uid)  # absent: that extractor failed here
                idx = (frame_index(np.asarray(frames[s.times], dtype=np.float64), s.window_s,
                                   w["start"], w["end"]) if frames else np.zeros(0, int))
                for col, out in s.frames.items():
                    row[out] = (np.asarray(frames[col], dtype=np.float32)[idx].mean(0).tolist()
                                if idx.size else None)
                row[f"{s.extractor}_frames"] = int(idx.size) if frames else None
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema(srcs))


def write_missing(store: Store, n_shards: int, srcs: list[Source]) -> int:
    """Build the words part of every shard that lacks one; returns how many were built."""
    built = 0
    for shard in range(n_shards):
        if not store.exists(LAYOUT.view_part(UNIT, shard)):
            store.write_table(LAYOUT.view_part(UNIT, shard), build(store, shard, srcs))
            built += 1
    return built
