"""RAVDESS: Actor_NN folders of files named MM-VV-EE-II-SS-RR-AA.{wav,mp4}.

The seven two-digit fields are modality (01 full-AV, 02 video-only, 03 audio-only), vocal
channel (01 speech, 02 song), emotion (01-08), intensity (01 normal, 02 strong), statement
(01/02), repetition (01/02) and actor (01-24; odd male, even female). The three modality files
of one performance are one utterance: audio comes from the 03 WAV (or the 01 MP4 when only video
was downloaded), video from the 01 MP4 (or the 02 video-only MP4).

RAVDESS has no official split; ours is speaker-independent and fixed: actors 01-20 train,
21-22 validation, 23-24 test (each pair one male, one female actor).
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import Adapter, ScanResult, walk_files
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "ravdess"
LAYOUT = "Actor_NN/MM-VV-EE-II-SS-RR-AA.wav or .mp4, e.g. Actor_12/03-01-05-01-02-01-12.wav"
NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})\.(wav|mp4)$")
ACTOR_DIR_RE = re.compile(r"^Actor_(\d{2})$")

MODALITIES = {"01": ("av", "mp4"), "02": ("video", "mp4"), "03": ("audio", "wav")}
CHANNELS = {"01": "speech", "02": "song"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
SONG_EMOTIONS = {"01", "02", "03", "04", "05", "06"}  # song has no disgust or surprised


def split_for_actor(actor: int) -> str:
    return "train" if actor <= 20 else "validation" if actor <= 22 else "test"


def parse_name(name: str, labels: LabelSchema) -> dict[str, str]:
    """Decode one file name; raise ValueError saying which field is wrong and what was expected."""
    m = NAME_RE.match(name)
    if not m:
        raise ValueError(f"expected a file named MM-VV-EE-II-SS-RR-AA.wav|mp4, got {name!r}")
    mod, chan, emo, inten, stmt, rep, actor, ext = m.groups()
    if mod not in MODALITIES:
        raise ValueError(f"modality {mod!r} in {name!r}: expected 01, 02 or 03")
    if MODALITIES[mod][1] != ext:
        raise ValueError(f"modality {mod} in {name!r} needs a .{MODALITIES[mod][1]} file")
    if chan not in CHANNELS:
        raise ValueError(f"vocal channel {chan!r} in {name!r}: expected 01 (speech) or 02 (song)")
    labels.map_label(CORPUS, emo)  # raises UnknownLabelError naming the valid codes
    if chan == "02" and emo not in SONG_EMOTIONS:
        raise ValueError(f"emotion {emo} in {name!r}: song has no disgust (07) or surprised (08)")
    if inten not in INTENSITIES:
        raise ValueError(f"intensity {inten!r} in {name!r}: expected 01 (normal) or 02 (strong)")
    if emo == "01" and inten == "02":
        raise ValueError(f"{name!r}: neutral (01) has no strong intensity (02)")
    if stmt not in STATEMENTS:
        raise ValueError(f"statement {stmt!r} in {name!r}: expected 01 or 02")
    if rep not in ("01", "02"):
        raise ValueError(f"repetition {rep!r} in {name!r}: expected 01 or 02")
    if not 1 <= int(actor) <= 24:
        raise ValueError(f"actor {actor!r} in {name!r}: expected 01-24")
    return {"modality": mod, "channel": chan, "emotion": emo, "intensity": inten,
            "statement": stmt, "repetition": rep, "actor": actor}


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    performances: dict[str, dict[str, Any]] = {}
    for path in walk_files(fs, root, result, CORPUS):
        name = path.rsplit("/", 1)[-1]
        try:
            f = parse_name(name, labels)
        except (ValueError, UnknownLabelError) as exc:
            result.problem(CORPUS, path, "UnexpectedFile", f"{exc} (expected {LAYOUT})")
            continue
        parent = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
        folder = ACTOR_DIR_RE.match(parent)
        if folder and folder.group(1) != f["actor"]:
            result.problem(CORPUS, path, "UnexpectedFile",
                           f"actor {f['actor']} in the name but folder {parent}")
            continue
        key = "-".join(f[k] for k in ("channel", "emotion", "intensity", "statement",
                                      "repetition", "actor"))
        perf = performances.setdefault(key, {"fields": f, "files": {}})
        if f["modality"] in perf["files"]:
            result.problem(CORPUS, path, "DuplicateFile",
                           f"same recording as {perf['files'][f['modality']]}")
            continue
        perf["files"][f["modality"]] = path
    for key, perf in sorted(performances.items()):
        result.rows.append(_row(RowBuilder(CORPUS, labels), key, perf["fields"],
                                perf["files"]))
    return result


def _row(rows: RowBuilder, key: str, f: dict[str, str], files: dict[str, str]) -> Row:
    actor = int(f["actor"])
    return rows.row(
        key, audio=files.get("03") or files.get("01"), video=files.get("01") or files.get("02"),
        speaker=f["actor"], code=f["emotion"], gender="male" if actor % 2 else "female",
        split=split_for_actor(actor), transcript=STATEMENTS[f["statement"]],
        intensity_native=INTENSITIES[f["intensity"]],
        meta={"vocal_channel": CHANNELS[f["channel"]], "statement": int(f["statement"]),
              "repetition": int(f["repetition"]), "actor": actor,
              "modalities": sorted(MODALITIES[m][0] for m in files)})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
