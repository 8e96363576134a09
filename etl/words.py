"""The word-aligned view (CMU-MultimodalSDK's "align to words"): for each ASR word, the mean of
every frame-level feature over the word's span, written as its own table per shard:
`words/part-NNNNNN.parquet`, one row per word.

It is derived from the shard's feature parts: the timed words of the extractor that declares
`words` (asr), and every frame series the extractors declare (`Extractor.frame_series`: eGeMAPS
LLDs, wav2vec frames, an extractor of your own), so it is built after them, by content key
like any unit, and rebuilt when one of them is recomputed.
A frame belongs to a word when the frame's centre lies inside [start, end); a word shorter
than one frame step takes the frame nearest its midpoint, so every timed word gets a value.
Frames whose values are all NaN (the faces extractor's frames without the target face) are
left out of the mean; a word with none left gets null.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl import version as versioning
from mer_etl.extractors.base import FrameSeries
from mer_etl.layout import LAYOUT
from mer_etl.store import Store

VERSION = "1"
UNIT = "words"


@dataclass(frozen=True)
class Source:
    """One extractor's frame series, as the word view uses it."""

    extractor: str
    series: FrameSeries

    @property
    def frames(self) -> dict[str, str]:  # feature column -> words-table column
        return self.series.values


def word_source(exs: list[Any]) -> Any | None:
    """The extractor whose timed words the view aligns to (the one declaring `words`)."""
    return next((ex for ex in exs if ex.words), None)


def sources(exs: list[Any]) -> list[Source]:
    """The frame series this run produces, as the extractors declare them; empty when no
    extractor gives timed words to align them to."""
    if word_source(exs) is None:
        return []
    return [Source(ex.name, fs) for ex in exs for fs in ex.frame_series()]


def unit_key(units: dict[str, str], exs: list[Any]) -> str:
    """The view's content key: its own version, the units it is built from and how."""
    srcs = sources(exs)
    words_from = word_source(exs)
    return versioning.digest({"view": UNIT, "version": VERSION, "words": words_from.name,
                              "words_unit": units[words_from.name],
                              **{s.extractor: units[s.extractor] for s in srcs},
                              "series": [[s.extractor, asdict(s.series)] for s in srcs]})


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


def frames_mean(values: np.ndarray) -> tuple[np.ndarray | None, int]:
    """(mean, frames used) of some frames (rows), leaving out frames whose values are all NaN
    (the faces extractor's frames without the target face); None when no frame is left."""
    if values.ndim == 2:
        values = values[~np.isnan(values).all(axis=1)]
    return (values.mean(0) if len(values) else None), len(values)


def _by_utt(table: pa.Table) -> dict[str, dict[str, Any]]:
    return {r["utt_id"]: r for r in table.to_pylist()}


def build(store: Store, shard: int, words_from: Any, srcs: list[Source]) -> pa.Table:
    col = words_from.words
    # only the columns used are read (a faces part also holds embeddings and landmarks)
    words = _by_utt(store.read_table(LAYOUT.feature_part(words_from.name, shard),
                                     ["utt_id", col]).rename_columns(["utt_id", "words"]))
    feats: dict[str, dict[str, dict[str, Any]]] = {}
    for name in dict.fromkeys(s.extractor for s in srcs):  # each feature part read once
        cols = sorted({c for s in srcs if s.extractor == name
                       for c in (s.series.times, *s.frames)})
        feats[name] = _by_utt(store.read_table(LAYOUT.feature_part(name, shard),
                                               ["utt_id", *cols]))
    rows = []
    for uid in sorted(words):
        for i, w in enumerate(words[uid]["words"] or []):
            row = {"utt_id": uid, "word_index": i, **{k: w[k] for k in
                                                       ("word", "start", "end", "score")}}
            for s in srcs:
                frames = feats[s.extractor].get(uid)  # absent: that extractor failed here
                idx = (frame_index(np.asarray(frames[s.series.times], dtype=np.float64),
                                   s.series.window_s, w["start"], w["end"])
                       if frames else np.zeros(0, int))
                used = 0
                for col, out in s.frames.items():
                    mean, used = (frames_mean(np.asarray(frames[col], dtype=np.float32)[idx])
                                  if idx.size else (None, 0))
                    row[out] = None if mean is None else mean.tolist()
                row[f"{s.extractor}_frames"] = used if frames else None
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema(srcs))


def write_part(store: Store, shard: int, exs: list[Any]) -> None:
    """Build and write one shard's words part from its feature parts."""
    store.write_table(LAYOUT.view_part(UNIT, shard),
                      build(store, shard, word_source(exs), sources(exs)))


def write_missing(store: Store, n_shards: int, exs: list[Any]) -> int:
    """Build the words part of every shard that lacks one, shards side by side (reading and
    writing Parquet release the GIL); returns how many were built."""
    todo = [s for s in range(n_shards) if not store.exists(LAYOUT.view_part(UNIT, s))]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        # list: an error in any shard is raised here
        list(pool.map(lambda shard: write_part(store, shard, exs), todo))
    return len(todo)
