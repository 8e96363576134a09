"""The cues view: what a language model reads about an utterance's delivery, as text.

One row per utterance (`cues.parquet`): prosody from eGeMAPS (pitch level and range, loudness)
and from the ASR words (speaking rate, pauses), each binned against the speaker's own baseline
(z-score over that speaker's utterances; a speaker with fewer than MIN_BASELINE values falls
back to the corpus's speakers of the same gender, then to the corpus), the face's active AU
proxies at the apex frame and their expression words, the transcript, the words that stood
out (etl/cue_words.py: each ASR word's pitch, loudness and AU proxies, binned against the
speaker's own words, in a table of its own, `cues_words.parquet`), and `prompt_text` built
from the versioned TEMPLATE. Every threshold and the template are in the card, and in the
view's content key: the view is rebuilt when any of them, or a feature it reads, changes.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from mer_etl import cue_words
from mer_etl import version as versioning
from mer_etl.layout import LAYOUT
from mer_etl.store import Store

VERSION = "2"  # 2: word-level cues
UNIT = "cues"
MIN_BASELINE = 4  # utterances a speaker needs before their own baseline is used
Z_LOW, Z_HIGH = -1.0, 1.0  # z-scores at or beyond these are "low" / "high"
PAUSE_S = 0.3  # a gap between ASR words at least this long is a pause
WORD_Z = (-1.5, 1.5)  # a word stands out beyond these: stricter, or half the words would
MAD_SCALE = 1.4826  # scaled MAD estimates the SD of normal data (word cues' robust baseline)
EGEMAPS = {"pitch": "F0semitoneFrom27.5Hz_sma3nz_amean",
           "pitch_range": "F0semitoneFrom27.5Hz_sma3nz_pctlrange0-2",
           "loudness": "loudness_sma3_amean"}
# AU proxies (schemas/au_proxy.toml) and the words a prompt uses for them when active
EXPRESSION_WORDS = {"AU01": "raised inner brows", "AU02": "raised outer brows",
                    "AU04": "lowered brows", "AU05": "wide eyes", "AU06": "raised cheeks",
                    "AU07": "tightened lids", "AU09": "wrinkled nose", "AU10": "raised upper lip",
                    "AU12": "smiling", "AU14": "dimpling", "AU15": "lip corners down",
                    "AU17": "raised chin", "AU20": "stretched lips", "AU23": "tightened lips",
                    "AU26": "open jaw", "AU28": "sucked lips", "AU43": "closed eyes"}
TEMPLATE = ('Transcript: "{transcript}". Voice, relative to this speaker: {voice}. '
            "Face: {face}.")
WORDS_TEMPLATE = " Words that stand out: {words}."  # appended where there are timed ASR words
PREDICTED_TEMPLATE = " Predicted: {predicted}."  # appended where an extractor predicts V/A/D


def sources(exs: list[Any]) -> list[str]:
    """The extractors the view reads: eGeMAPS, ASR, faces and any that predicts V/A/D."""
    return [ex.name for ex in exs
            if ex.name in ("egemaps", "asr", "faces") or getattr(ex, "dimensions", {})]


def applies(exs: list[Any]) -> bool:
    return bool(sources(exs))


def settings() -> dict[str, Any]:
    """What the view's rows depend on besides the features: hashed and written to the card."""
    return {"version": VERSION, "min_baseline": MIN_BASELINE, "z_low": Z_LOW, "z_high": Z_HIGH,
            "pause_s": PAUSE_S, "egemaps": EGEMAPS, "expression_words": EXPRESSION_WORDS,
            "template": TEMPLATE, "words_template": WORDS_TEMPLATE,
            "predicted_template": PREDICTED_TEMPLATE,
            "predicted_bins": "low: bottom third of the extractor's scale, high: top third",
            "word_lld": cue_words.LLD, "word_voiced_only": list(cue_words.VOICED_ONLY),
            "word_baseline": "median and 1.4826 x MAD of the speaker's words",
            "word_z": list(WORD_Z)}


def unit_key(units: dict[str, str], exs: list[Any]) -> str:
    return versioning.digest({"view": UNIT, **settings(), "base": units[LAYOUT.base],
                              **{e: units[e] for e in sources(exs)}})


def features(store: Store, name: str, columns: list[str]) -> pl.DataFrame | None:
    """The columns (those it has) of an extractor's feature parts, read through the store's
    filesystem (an object store's endpoint and credentials are fsspec's, not polars')."""
    parts = LAYOUT.feature_parts(name, store.files())
    if not parts:
        return None
    tables = [store.read_table(rel, ["utt_id", *columns]) for rel in parts]
    frame = pl.from_arrow(pa.concat_tables(tables))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _asr_cues(words: list[dict[str, Any]] | None) -> tuple[float | None, int | None]:
    """(words per second of speech, pauses) from timed words."""
    timed = [w for w in words or [] if w.get("start") is not None and w.get("end") is not None]
    if len(timed) < 2:
        return None, None
    span = timed[-1]["end"] - timed[0]["start"]
    pauses = sum(b["start"] - a["end"] >= PAUSE_S for a, b in itertools.pairwise(timed))
    return (len(timed) / span if span > 0 else None), int(pauses)


def baseline_z(df: pl.DataFrame, col: str, robust: bool = False,
               bounds: tuple[float, float] = (Z_LOW, Z_HIGH)) -> pl.DataFrame:
    """z-score of `col` against the speaker's own utterances, falling back to the corpus's
    same-gender speakers, then the corpus; which baseline was used goes to `<col>_baseline`.
    robust: median and scaled MAD instead of mean and SD (words: one octave jump of the
    pitch tracker in one word would widen the SD enough to hide a whole raised sentence)."""
    out = df
    levels = [("speaker", ["corpus", "speaker"]), ("gender", ["corpus", "gender"]),
              ("corpus", ["corpus"])]
    z, which = pl.lit(None, pl.Float64), pl.lit(None, pl.String)
    for name, keys in reversed(levels):  # most specific last: it wins where usable
        usable = (pl.col(col).is_not_null().sum().over(keys) >= MIN_BASELINE) & \
            pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
        if robust:
            mean = pl.col(col).median().over(keys)
            sd = MAD_SCALE * (pl.col(col) - mean).abs().median().over(keys)
        else:
            mean, sd = pl.col(col).mean().over(keys), pl.col(col).std().over(keys)
        zz = pl.when(sd > 0).then((pl.col(col) - mean) / sd).otherwise(0.0)
        z = pl.when(usable & pl.col(col).is_not_null()).then(zz).otherwise(z)
        which = pl.when(usable & pl.col(col).is_not_null()).then(pl.lit(name)).otherwise(which)
    out = out.with_columns(z.alias(f"{col}_z"), which.alias(f"{col}_baseline"))
    return out.with_columns(
        pl.when(pl.col(f"{col}_z") <= bounds[0]).then(pl.lit("low"))
        .when(pl.col(f"{col}_z") >= bounds[1]).then(pl.lit("high"))
        .when(pl.col(f"{col}_z").is_not_null()).then(pl.lit("normal"))
        .otherwise(None).alias(f"{col}_bin"))


def build(store: Store, manifest: pa.Table, exs: list[Any] | None = None, n_shards: int = 0
          ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The utterance table and the word table (None without timed ASR words)."""
    df = pl.from_arrow(manifest.select(["utt_id", "corpus", "speaker", "gender", "transcript"]))
    assert isinstance(df, pl.DataFrame)
    eg = features(store, "egemaps", list(EGEMAPS.values()))
    if eg is not None:
        df = df.join(eg.rename({v: k for k, v in EGEMAPS.items() if v in eg.columns}),
                     on="utt_id", how="left")
    asr = features(store, "asr", ["text", "words"])
    if asr is not None:
        rate_pause = [_asr_cues(w) for w in asr["words"].to_list()]
        df = df.join(asr.select("utt_id", pl.col("text").alias("asr_text"),
                                pl.Series("rate", [r for r, _ in rate_pause], pl.Float64),
                                pl.Series("pauses", [p for _, p in rate_pause], pl.Int64)),
                     on="utt_id", how="left")
    faces = features(store, "faces", ["apex_units", "apex_time"])
    if faces is not None:
        df = df.join(faces, on="utt_id", how="left")
    for col in ("pitch", "pitch_range", "loudness", "rate", "pauses"):
        if col in df.columns:
            df = baseline_z(df.with_columns(pl.col(col).cast(pl.Float64)), col)
    df = _predicted(store, df, exs or [])
    wdf = _words(store, df, exs or [], n_shards) if asr is not None else None
    marked = _marked(wdf) if wdf is not None else {}
    rows = [_prompt(r, marked.get(r["utt_id"], []) if wdf is not None else None)
            for r in df.iter_rows(named=True)]
    return (df.with_columns(pl.Series("cues_json", [j for j, _ in rows], pl.String),
                            pl.Series("prompt_text", [t for _, t in rows], pl.String)), wdf)


def _predicted(store: Store, df: pl.DataFrame, exs: list[Any]) -> pl.DataFrame:
    """The V/A/D predictions extractors declare (Extractor.dimensions), binned on their
    scales into `pred_<dimension>_bin`."""
    for ex in exs:
        dims = getattr(ex, "dimensions", {})
        found = features(store, ex.name, [d.column for d in dims.values()]) if dims else None
        for name, d in dims.items():
            if found is None or d.column not in found.columns:
                continue
            third = (d.high - d.low) / 3
            value = pl.col(d.column).cast(pl.Float64).alias(f"pred_{name}")
            df = _bin(df.join(found.select("utt_id", value), on="utt_id", how="left"), name,
                      d.low + third, d.high - third)
    return df


def _bin(df: pl.DataFrame, name: str, low: float, high: float) -> pl.DataFrame:
    value = pl.col(f"pred_{name}")
    return df.with_columns(pl.when(value.is_null()).then(None)
                           .when(value <= low).then(pl.lit("low"))
                           .when(value >= high).then(pl.lit("high"))
                           .otherwise(pl.lit("neutral")).alias(f"pred_{name}_bin"))


def _words(store: Store, utts: pl.DataFrame, exs: list[Any], n_shards: int) -> pl.DataFrame:
    """Word-level cues (etl/cue_words.py), binned against the speaker's own words, with the
    AU proxies at or above the faces extractor's threshold by name (`face`)."""
    eg = next((e for e in exs if e.name == "egemaps"), None)
    series = eg.frame_series() if eg is not None else []
    lld_names = list(eg.describe()["lld"]) if series else []
    rows = cue_words.read_rows(store, n_shards, lld_names,
                               series[0].window_s if series else 0.0)
    wdf = pl.DataFrame(rows, schema=pl.Schema(cue_words.SCHEMA))
    wdf = wdf.join(utts.select("utt_id", "corpus", "speaker", "gender"), on="utt_id",
                   how="left")
    for col in cue_words.LLD:
        wdf = baseline_z(wdf, col, robust=True, bounds=WORD_Z)
    face = next((e for e in exs if e.name == "faces"), None)
    threshold = float(face.config.get("au_threshold", 0.5)) if face is not None else 0.5
    from mer_etl.extractors.expressions import au_table

    units = list(au_table()["proxies"])
    active = [[u for u, v in zip(units, au or [], strict=False) if v is not None and v >= threshold]
              for au in wdf["au_proxy"].to_list()]
    return wdf.with_columns(pl.Series("face", active, pl.List(pl.String)))


def _marked(wdf: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per utterance, its words whose pitch or loudness was high or low for the speaker, or
    whose face had active AU proxies."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in wdf.iter_rows(named=True):
        out.setdefault(r["utt_id"], [])
        voice = {k: r[f"{k}_bin"] for k in cue_words.LLD if r.get(f"{k}_bin") in ("high", "low")}
        if voice or r["face"]:
            out[r["utt_id"]].append({"word": (r["word"] or "").strip(), "start": r["start"],
                                     "voice": voice, "face": r["face"]})
    return out


def _word_text(w: dict[str, Any]) -> str:
    what = [f"{k} {v}" for k, v in w["voice"].items()] + \
        [EXPRESSION_WORDS.get(u, u) for u in w["face"]]
    at = f" at {w['start']:.1f} s" if w["start"] is not None else ""
    return f'"{w["word"]}"{at} ({", ".join(what)})'


def _prompt(r: dict[str, Any], marked: list[dict[str, Any]] | None) -> tuple[str, str]:
    voice = {k.replace("_", " "): r.get(f"{k}_bin")
             for k in ("pitch", "pitch_range", "loudness", "rate", "pauses")
             if r.get(f"{k}_bin")}
    units = r.get("apex_units") or []
    face = ([EXPRESSION_WORDS.get(u, u) for u in units] if "apex_units" in r else None)
    transcript = r.get("transcript") or r.get("asr_text") or ""
    predicted = {k[5:-4]: v for k, v in r.items()
                 if k.startswith("pred_") and k.endswith("_bin") and v}
    cues = {"transcript": transcript, "voice": voice, "face": face,
            "apex_time": r.get("apex_time"), "words": marked, "predicted": predicted}
    text = TEMPLATE.format(
        transcript=transcript.strip(),
        voice=", ".join(f"{k} {v}" for k, v in voice.items()) or "not measured",
        face=("not measured" if face is None else ", ".join(face) or "no active units")
        + (f" (apex at {r['apex_time']:.1f} s)" if face and r.get("apex_time") is not None
           and not np.isnan(r["apex_time"]) else ""))
    if marked is not None:
        text += WORDS_TEMPLATE.format(words="; ".join(map(_word_text, marked)) or "none")
    if predicted:
        text += PREDICTED_TEMPLATE.format(
            predicted=", ".join(f"{k} {v}" for k, v in predicted.items()))
    return json.dumps(cues, ensure_ascii=False, sort_keys=True), text


def write(store: Store, manifest: pa.Table, exs: list[Any] | None = None, n_shards: int = 0
          ) -> tuple[int, int | None]:
    """Build and write the cues table (and the word table where there are ASR words);
    returns their rows (None: no word table)."""
    table, wdf = build(store, manifest, exs, n_shards)
    store.write_table(LAYOUT.cues, table.to_arrow())
    if wdf is not None:
        store.write_table(LAYOUT.cues_words, wdf.to_arrow())
    elif store.exists(LAYOUT.cues_words):
        store.remove(LAYOUT.cues_words)  # from a run that had ASR: stale now
    return table.height, None if wdf is None else wdf.height
