"""EmoDB: wav/03a01Fa.wav = speaker, text code, emotion letter (German initial), version.

Texts and speakers' genders are from the corpus documentation. EmoDB has no official split;
ours is speaker-independent and fixed, three male and three female speakers for training:
train 03, 08, 09, 10, 11, 13; validation 12 (m), 14 (f); test 15 (m), 16 (f).
"""

from __future__ import annotations

import re
from typing import Any

from fsspec import AbstractFileSystem

from jobs.base import Adapter, ScanResult, basename, label_fields, walk_files
from schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "emodb"
LAYOUT = "wav/03a01Fa.wav (speaker, text code, emotion letter, version)"
NAME_RE = re.compile(r"^(\d{2})([ab]\d{2})([A-Z])([a-z])\.wav$")
SPEAKERS = {"03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
            "12": "male", "13": "female", "14": "female", "15": "male", "16": "female"}
SPLITS = {"12": "validation", "14": "validation", "15": "test", "16": "test"}
TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    for path in walk_files(fs, root, result, CORPUS):
        name = basename(path)
        m = NAME_RE.match(name)
        if not m:
            if name.endswith(".wav"):
                result.problem(CORPUS, path, "UnexpectedFile", f"expected {LAYOUT}")
            continue  # EmoDB ships other files (erkennung.txt, laryngograms, labels)
        speaker, text, emotion, version = m.groups()
        try:
            if speaker not in SPEAKERS or text not in TEXTS:
                raise ValueError(f"{name!r}: expected speaker one of {sorted(SPEAKERS)} and text "
                                 f"one of {sorted(TEXTS)}")
            result.rows.append(_row(name[:-4], speaker, text, emotion, version, path, labels))
        except (ValueError, UnknownLabelError) as exc:
            result.problem(CORPUS, path, "UnexpectedFile", str(exc))
    return result


def _row(utt: str, speaker: str, text: str, emotion: str, version: str, path: str,
         labels: LabelSchema) -> dict[str, Any]:
    return {
        "utt_id": f"{CORPUS}_{utt}",
        "corpus": CORPUS,
        "speaker": f"{CORPUS}_{speaker}",
        "gender": SPEAKERS[speaker],
        "language": "de",
        "split": SPLITS.get(speaker, "train"),
        "_audio_path": path,
        "transcript": TEXTS[text],
        **label_fields(labels, CORPUS, emotion),
        "meta": {"text_code": text, "version": version},
    }


ADAPTER = Adapter(name=CORPUS, title="EmoDB", layout=LAYOUT, scan=scan)
