"""Instruction-tuning exports for multimodal LLMs, from a dataset version.

Formats (FORMATS), each written as the project that trains on it reads it:
- `sharegpt`: LLaMA-Factory's ShareGPT layout (data/README.md: `conversations` of `from`
  human/gpt turns, `system`, multimodal `audios`/`videos` lists whose files the `<audio>` and
  `<video>` placeholders in the human turn stand for, in order) plus the `dataset_info.json`
  entry that registers it. A span inside a longer file is in `mer_span` (LLaMA-Factory reads
  whole files: cut the clips first, or export corpora of one utterance per file).
- `merr`: Emotion-LLaMA's MERR annotation: a JSON object keyed by sample name with `AU_list`,
  `visual_prior_list`, `audio_prior_list`, `peak_index`, `peak_AU_list`, `pseu_emotion`,
  `caption` and `text`, and the `<name> <frames> <emotion>` TXT list beside it. AUs are the
  faces extractor's AU proxies (schemas/au_proxy.toml), not OpenFace's.
- `qwen-vl`: the LLaVA-style list Qwen2.5-VL's fine-tuning code reads: `video` (a path) and
  `conversations` whose human turn starts with `<video>\n`; samples without video are left out.
- `llava`: LLaVA's list of `image` (a path) and `conversations` whose human turn starts with
  `<image>\n`; the image is the target face's crop at the apex frame (the faces extractor's
  crops, written as JPEG files beside the JSON); samples without a face crop are left out.
- `affectgpt-csv`: AffectGPT's layout (etl/export_affectgpt.py): the subtitle and track CSVs
  its MER2025 readers load, with audio, video and face files named by sample.
- `hf`: a Parquet file Hugging Face `datasets` loads with `audio` as an `Audio` feature and
  `video` as a `Video` feature (paths; decoding needs torchcodec, which `datasets` imports
  only when a video is read).

The human turn asks for the emotion in the chosen label view (its classes listed), carries the
subtitle and, with `cues`, the cues view's prompt text; the target is the label's name (or the
open-vocabulary words, or the first description). The template and format version are in the
export's `export.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from mer_etl.cues import features
from mer_etl.layout import LAYOUT
from mer_etl.loaders import view_classes
from mer_etl.media.fs import plain_path
from mer_etl.schemas.labels import load_label_schema
from mer_etl.store import resolve_dataset

FORMAT_VERSION = "1"
FORMATS = ("sharegpt", "qwen-vl", "llava", "merr", "affectgpt-csv", "hf")
TARGETS = ("label", "open_vocab", "description")
QUESTION = ("What emotion does the speaker express? Answer with one of: {classes}.")
SYSTEM = "You are an expert in recognising emotions from speech, faces and words."


def _rows(path: str, label_view: str, split: str | None, target: str) -> list[dict[str, Any]]:
    store = resolve_dataset(path)  # read through its filesystem: local or an object store
    utts = _frame(store.read_table(LAYOUT.utterances))
    if split is not None:
        utts = utts.filter(pl.col("split") == split)
    if store.exists(LAYOUT.cues):
        cues = _frame(store.read_table(LAYOUT.cues).select(["utt_id", "prompt_text",
                                                            "cues_json"]))
        utts = utts.join(cues, on="utt_id", how="left")
    faces = features(store, "faces", ["apex_frame", "apex_units", "au_proxy_mean",
                                      "frame_times"])
    if faces is not None:
        utts = utts.join(faces, on="utt_id", how="left")
    schema = load_label_schema()
    out = []
    for r in utts.iter_rows(named=True):
        name = (r["label"] if label_view == "canonical"
                else schema.view(label_view, r["label"]))
        description = (r.get("descriptions") or [{}])[0].get("text")
        words = list(r.get("open_vocab") or []) if target == "open_vocab" else \
            [name] if name else []
        answer = {"label": name, "open_vocab": ", ".join(words) or None,
                  "description": description}[target]
        if answer:
            out.append({**r, "answer": answer, "answer_list": words,
                        "description": description})
    return out


def _frame(table: Any) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _human(r: dict[str, Any], classes: list[str], cues: bool, placeholders: str) -> str:
    parts = [placeholders + QUESTION.format(classes=", ".join(classes))]
    if r.get("transcript"):
        parts.append(f'Subtitle: "{r["transcript"]}"')
    if cues and r.get("prompt_text"):
        parts.append(f"Cues: {r['prompt_text']}")
    return "\n".join(parts)


def _local(uri: str | None) -> str | None:
    return plain_path(uri) if uri else None


def export(path: str, fmt: str, out: str | Path, label_view: str = "canonical",
           split: str | None = None, cues: bool = True, target: str = "label") -> list[Path]:
    """Write the export; returns the files written."""
    if fmt not in FORMATS or target not in TARGETS:
        raise ValueError(f"export: format must be one of {FORMATS} and target one of "
                         f"{TARGETS}; got {fmt!r}, {target!r}")
    classes = view_classes(label_view)
    rows = _rows(path, label_view, split, target)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "llava":
        _attach_crops(path, rows)
    media: dict[str, int] = {}
    if fmt == "affectgpt-csv":
        from mer_etl import export_affectgpt

        written, media = export_affectgpt.write(path, rows, out)
    else:
        written = {"sharegpt": _sharegpt, "qwen-vl": _qwen_vl, "llava": _llava,
                   "merr": _merr, "hf": _hf}[fmt](rows, classes, cues, out)
    meta = out / "export.json"
    meta.write_text(json.dumps({
        "format": fmt, "format_version": FORMAT_VERSION, "dataset": str(path),
        "label_view": label_view, "split": split, "cues": cues, "target": target,
        "question": QUESTION, "system": SYSTEM, "samples": len(rows), "media": media},
        indent=2))
    return [*written, meta]


def _sharegpt(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path
              ) -> list[Path]:
    data = []
    for r in rows:
        audios = [_local(r["audio_uri"])] if r.get("audio_uri") else []
        videos = [_local(r["video_uri"])] if r.get("video_uri") else []
        tags = "<video>" * len(videos) + "<audio>" * len(audios)
        item: dict[str, Any] = {
            "conversations": [{"from": "human", "value": _human(r, classes, cues, tags)},
                              {"from": "gpt", "value": r["answer"]}],
            "system": SYSTEM, "audios": audios, "videos": videos, "id": r["utt_id"]}
        if r.get("start") is not None or r.get("end") is not None:
            item["mer_span"] = {"start": r.get("start"), "end": r.get("end")}
        data.append(item)
    (out / "data.json").write_text(json.dumps(data, ensure_ascii=False, indent=1))
    info = {"mer_etl": {"file_name": "data.json", "formatting": "sharegpt",
                        "columns": {"messages": "conversations", "system": "system",
                                    "audios": "audios", "videos": "videos"}}}
    (out / "dataset_info.json").write_text(json.dumps(info, indent=2))
    return [out / "data.json", out / "dataset_info.json"]


def _llava_style(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path,
                 key: str, token: str) -> list[Path]:
    data = [{"id": r["utt_id"], key: r[key],
             "conversations": [{"from": "human",
                                "value": _human(r, classes, cues, token + "\n")},
                               {"from": "gpt", "value": r["answer"]}]}
            for r in rows if r.get(key)]
    (out / "data.json").write_text(json.dumps(data, ensure_ascii=False, indent=1))
    return [out / "data.json"]


def _qwen_vl(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path
             ) -> list[Path]:
    for r in rows:
        r["video"] = _local(r.get("video_uri"))
    return _llava_style(rows, classes, cues, out, "video", "<video>")


def _llava(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path
           ) -> list[Path]:
    folder = out / "images"
    folder.mkdir(exist_ok=True)
    written = []
    for r in rows:
        crop = r.pop("_crop", None)
        r["image"] = None
        if crop:
            path = folder / f"{r['utt_id']}.jpg"
            path.write_bytes(crop)
            r["image"] = str(path)
            written.append(path)
    return [*_llava_style(rows, classes, cues, out, "image", "<image>"), *written]


def _attach_crops(path: str, rows: list[dict[str, Any]]) -> None:
    """Each row's target-face crop at its apex frame (else the first frame with the face)."""
    crops = features(resolve_dataset(path), "faces", ["crops", "apex_frame"])
    if crops is None:
        return
    by_id = {r["utt_id"]: r for r in crops.iter_rows(named=True)}
    for r in rows:
        found = by_id.get(r["utt_id"])
        if not found or not found["crops"]:
            continue
        apex = found.get("apex_frame")
        order = ([apex] if apex is not None and apex >= 0 else []) + \
            list(range(len(found["crops"])))
        r["_crop"] = next((found["crops"][i] for i in order if found["crops"][i]), None)


def _merr(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path
          ) -> list[Path]:
    from mer_etl.cues import EXPRESSION_WORDS
    from mer_etl.extractors.expressions import au_table

    units = list(au_table()["proxies"])
    data, lines = {}, []
    for r in rows:
        means = r.get("au_proxy_mean") or []
        active = [u for u, v in zip(units, means, strict=False) if v is not None and v >= 0.5]
        peak = r.get("apex_units") or []
        frames = len(r.get("frame_times") or [])
        data[r["utt_id"]] = {
            "AU_list": active, "visual_prior_list": [EXPRESSION_WORDS[u] for u in active],
            "audio_prior_list": _voice(r.get("cues_json")),
            "peak_index": str(r["apex_frame"]) if r.get("apex_frame") not in (None, -1) else "",
            "peak_AU_list": peak, "pseu_emotion": r["answer"],
            "caption": r.get("prompt_text") if cues else "", "text": r.get("transcript") or ""}
        lines.append(f"{r['utt_id']} {frames} {r['answer']}")
    (out / "MERR.json").write_text(json.dumps(data, ensure_ascii=False, indent=2))
    (out / "MERR.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return [out / "MERR.json", out / "MERR.txt"]


def _voice(cues_json: str | None) -> str:
    """The voice part of the cues ("pitch high, loudness normal, ..."), MERR's audio prior."""
    voice = json.loads(cues_json).get("voice", {}) if cues_json else {}
    return ", ".join(f"{k} {v}" for k, v in voice.items())


def _hf(rows: list[dict[str, Any]], classes: list[str], cues: bool, out: Path) -> list[Path]:
    from datasets import Audio, Dataset, Features, Value, Video

    text = Value("string")
    # paths first, cast to Audio/Video after: building with them would encode (torchcodec)
    features = Features({"utt_id": text, "audio": text, "video": text,
                         "start": Value("float64"),
                         "end": Value("float64"), "question": text, "answer": text,
                         "label": text, "corpus": text, "split": text})
    ds = Dataset.from_dict({
        "utt_id": [r["utt_id"] for r in rows],
        "audio": [_local(r["audio_uri"]) for r in rows],
        "video": [_local(r.get("video_uri")) for r in rows],
        "start": [r.get("start") for r in rows], "end": [r.get("end") for r in rows],
        "question": [_human(r, classes, cues, "") for r in rows],
        "answer": [r["answer"] for r in rows],
        "label": [r.get("label") for r in rows], "corpus": [r["corpus"] for r in rows],
        "split": [r.get("split") for r in rows]}, features=features)
    ds = ds.cast_column("audio", Audio(decode=False)).cast_column("video", Video(decode=False))
    target = out / "data" / "train-00000-of-00001.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.to_parquet(str(target))
    return [target]
