"""Word-level cues: which prosody and which AU proxies stood out during each ASR word.

One row per timed word (`cues_words.parquet`): the word's pitch and loudness (eGeMAPS LLD
frames) and its AU proxies (the faces extractor's per-frame `au_proxy`, with expressions on),
taken over the frames the word view aligns to the word (`words.frame_index`: a frame belongs
to a word when its centre lies in the word's span, else the nearest one). Pitch is averaged
over the word's voiced frames only: eGeMAPS gives F0 = 0 on unvoiced frames, so the plain
mean the word view stores mixes pitch with how voiced a word is. The cues view bins these
against the speaker's own words (cues.baseline_z) and marks the words that stand out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from mer_etl.layout import LAYOUT
from mer_etl.store import Store
from mer_etl.words import frame_index, frames_mean

# eGeMAPS LLDs the word cues read (their names in the extractor's `describe()["lld"]`)
LLD = {"pitch": "F0semitoneFrom27.5Hz_sma3nz", "loudness": "Loudness_sma3"}
VOICED_ONLY = ("pitch",)  # averaged over frames where the value is above 0
FACE_WINDOW_S = 0.0  # a sampled video frame is an instant: its centre is its time


def _part(store: Store, name: str, shard: int, cols: list[str]) -> dict[str, dict[str, Any]]:
    rel = LAYOUT.feature_part(name, shard)
    if not store.exists(rel):
        return {}
    table = store.read_table(rel, ["utt_id", *cols])  # only these columns are read
    if not set(cols) <= set(table.schema.names):
        return {}
    return {r["utt_id"]: r for r in table.to_pylist()}


def word_rows(words: dict[str, list[dict[str, Any]] | None],
              lld: dict[str, dict[str, Any]], lld_names: list[str],
              faces: dict[str, dict[str, Any]], lld_window_s: float) -> list[dict[str, Any]]:
    """One row per word of `words` (utt_id -> ASR words) with its prosody and AU proxies;
    `lld` and `faces` are feature rows by utt_id (lld/lld_times; frame_times/au_proxy)."""
    cols = {k: lld_names.index(v) for k, v in LLD.items() if v in lld_names}
    rows = []
    for uid in sorted(words):
        frames = lld.get(uid)
        lld_arr = (np.asarray(frames["lld"], np.float32).reshape(-1, len(lld_names))
                   if frames and frames["lld"] else None)
        face = faces.get(uid)
        au = (np.asarray(face["au_proxy"], np.float32) if face and face["au_proxy"] else None)
        for i, w in enumerate(words[uid] or []):
            row: dict[str, Any] = {"utt_id": uid, "word_index": i, "word": w.get("word"),
                                   "start": w.get("start"), "end": w.get("end"),
                                   **dict.fromkeys(cols), "au_proxy": None}
            timed = w.get("start") is not None and w.get("end") is not None
            if timed and lld_arr is not None:
                idx = frame_index(np.asarray(frames["lld_times"], np.float64), lld_window_s,
                                  w["start"], w["end"])
                for name, c in cols.items():
                    v = lld_arr[idx, c]
                    v = v[v > 0] if name in VOICED_ONLY else v
                    row[name] = float(v.mean()) if v.size else None
            if timed and au is not None and au.ndim == 2:
                idx = frame_index(np.asarray(face["frame_times"], np.float64), FACE_WINDOW_S,
                                  w["start"], w["end"])
                mean, _ = frames_mean(au[idx])  # as the word view averages them
                row["au_proxy"] = None if mean is None else mean.tolist()
            rows.append(row)
    return rows


def read_rows(store: Store, n_shards: int, lld_names: list[str], lld_window_s: float
              ) -> list[dict[str, Any]]:
    """The word rows of every shard, one shard's feature parts in memory at a time."""
    out: list[dict[str, Any]] = []
    for shard in range(n_shards):
        asr = _part(store, "asr", shard, ["words"])
        if not asr:
            continue
        out += word_rows({u: r["words"] for u, r in asr.items()},
                         _part(store, "egemaps", shard, ["lld", "lld_times"]) if lld_names
                         else {}, lld_names,
                         _part(store, "faces", shard, ["frame_times", "au_proxy"]),
                         lld_window_s)
    return out


SCHEMA = pa.schema([pa.field("utt_id", pa.string(), nullable=False),
                    pa.field("word_index", pa.int32(), nullable=False),
                    pa.field("word", pa.string()), pa.field("start", pa.float32()),
                    pa.field("end", pa.float32()), pa.field("pitch", pa.float64()),
                    pa.field("loudness", pa.float64()),
                    pa.field("au_proxy", pa.list_(pa.float32()))])
