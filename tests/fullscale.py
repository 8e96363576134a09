"""Full-scale corpus trees: every real file name and folder of a corpus, tiny media behind them.

The public corpora come from real file lists (EmoBox's per-corpus lists and CREMA-D's repository
listing in ../shared/real) with the publishers' real label files copied in where they are
public (MELD's CSVs, CREMA-D's tables, the CMU SDK's MOSEI folds). The licensed corpora
(IEMOCAP, MSP-Podcast, ESD, MOSEI's labels) have no public lists: their trees are generated from
what the publishers and public code state (names, counts, label file formats), at full scale
where the counts are stated. Every media file is a hard link to one tiny real file per
extension, so a 35,000-file tree costs seconds and no disk.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import random
import shutil
from functools import cache
from pathlib import Path

import pytest

from tests.corpora import _video
from tests.media import write_wav

REAL = Path(__file__).resolve().parents[2] / "shared" / "real"


def real(*parts: str) -> Path:
    """A file under ../shared/real, or skip the test saying what is missing."""
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real corpus files not found at {path} (../shared/real is not checked out)")
    return path


@cache
def _proto(ext: str) -> Path:
    if ext in ("mp4", "flv", "avi"):
        return _video(ext, 0.2)
    return write_wav(Path(_video("mp4", 0.2)).parent / f"tiny.{ext}", 0.05, 16_000)


def link(dest: Path, ext: str | None = None) -> None:
    """Hard-link the tiny media file of this extension at `dest` (copy where links fail)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    src = _proto((ext or dest.suffix[1:]).lower())
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy(src, dest)


def emobox_records(corpus: str) -> list[dict]:
    with gzip.open(real("emobox", "data", corpus, f"{corpus}.jsonl.gz"), "rt",
                   encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def emobox_path(record: dict, corpus: str) -> str:
    """The path inside the corpus as its archive unpacks (EmoBox's `wav` minus its prefix)."""
    prefix = f"downloads/{corpus}/"
    assert record["wav"].startswith(prefix), record["wav"]
    return record["wav"][len(prefix):]


def build_from_list(root: Path, corpus: str) -> list[dict]:
    records = emobox_records(corpus)
    for rec in records:
        link(root / emobox_path(rec, corpus))
    return records


# -- public corpora ----------------------------------------------------------------------------

def build_ravdess(root: Path) -> None:
    build_from_list(root, "ravdess")


def build_emodb(root: Path) -> None:
    build_from_list(root, "emodb")


def build_tess(root: Path) -> None:
    build_from_list(root, "tess")


def build_savee(root: Path, nested: bool = False) -> None:
    """The flat layout of the real list, or the publisher's AudioData/<SPK>/<code><nn>.wav."""
    for rec in emobox_records("savee"):
        name = emobox_path(rec, "savee")
        if nested:
            speaker, rest = name.split("_", 1)
            name = f"AudioData/{speaker}/{rest}"
        link(root / name)


def build_meld(root: Path, release: str = "current") -> None:
    """Clips from the real list; the real CSVs (current, or the 2018 encoding)."""
    build_from_list(root, "meld")
    folder = ("meld",) if release == "current" else ("meld", "original_2018")
    (root / "train").mkdir(exist_ok=True)
    shutil.copy(real(*folder, "train_sent_emo.csv"), root / "train" / "train_sent_emo.csv")
    for split in ("dev", "test"):
        shutil.copy(real(*folder, f"{split}_sent_emo.csv"), root / f"{split}_sent_emo.csv")


def build_cremad(root: Path) -> None:
    """Every media file of the repository (WAV, MP3, FLV) and its real tables."""
    with open(real("cremad", "media_files.tsv"), encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            link(root / row["path"])
    (root / "processedResults").mkdir()
    for name in ("tabulatedVotes.csv", "summaryTable.csv"):
        shutil.copy(real("cremad", "processedResults", name), root / "processedResults" / name)
    for name in ("VideoDemographics.csv", "SentenceFilenames.csv"):
        shutil.copy(real("cremad", name), root / name)


# -- licensed corpora, generated from published facts ------------------------------------------

ESD_EMOTIONS = ["Neutral", "Angry", "Happy", "Sad", "Surprise"]
ESD_ZH = {"Neutral": "中立", "Angry": "生气", "Happy": "快乐", "Sad": "伤心", "Surprise": "惊喜"}


def build_esd(root: Path, layout: str = "current") -> None:
    """20 speakers x 5 emotions x 350 ids; `current` has no split folders, `split` the older
    archive's train/evaluation/test folders. Transcripts as shipped: UTF-8 (English speakers),
    UTF-16 with BOM for two Mandarin speakers, GB18030 for the others."""
    base = root / "Emotion Speech Dataset"
    for spk in range(1, 21):
        speaker = f"{spk:04d}"
        lines = []
        for block, emotion in enumerate(ESD_EMOTIONS):
            for offset in range(1, 351):
                utt = f"{speaker}_{block * 350 + offset:06d}"
                folder = base / speaker / emotion
                if layout == "split":
                    folder /= "evaluation" if offset <= 20 else "test" if offset <= 50 else "train"
                link(folder / f"{utt}.wav")
                word = ESD_ZH[emotion] if spk <= 10 else emotion
                lines.append(f"{utt}\t{'打远一看' if spk <= 10 else 'The nine the eggs'} "
                             f"{offset}\t{word}")
        text = "\n".join(lines) + "\n"
        encoding = "utf-16" if spk in (1, 2) else "gb18030" if spk <= 10 else "utf-8"
        (base / speaker / f"{speaker}.txt").write_bytes(text.encode(encoding))


IEMOCAP_S5 = {"xxx": 520, "neu": 384, "fru": 381, "exc": 299, "sad": 245, "ang": 170, "hap": 143,
              "sur": 18, "fea": 10}
IEMOCAP_ALL = {"xxx": 2507, "fru": 1849, "neu": 1708, "ang": 1103, "sad": 1084, "exc": 1041,
               "hap": 595, "sur": 107, "fea": 40, "oth": 3, "dis": 2}
IEMOCAP_VOTES = {"neu": "Neutral", "fru": "Frustration", "ang": "Anger", "sad": "Sadness",
                 "exc": "Excited", "hap": "Happiness", "sur": "Surprise", "fea": "Fear",
                 "oth": "Other", "dis": "Disgust", "xxx": "Neutral"}


def iemocap_dialogs(session: int) -> list[str]:
    """The 151 dialog names (28/30/32/30/31 per session) as public split manifests list them."""
    out = []
    for actor in "FM":
        impro = [f"impro{i:02d}" for i in range(1, 8 if session == 1 else 9)]
        if session == 3 and actor == "M":
            impro = [i for i in impro if i not in ("impro05", "impro08")] + \
                ["impro05a", "impro05b", "impro08a", "impro08b"]
        scripts = ["script01_1", "script01_2", "script01_3", "script02_1", "script02_2",
                   "script03_1", "script03_2"]
        if session == 5 and actor == "M":
            scripts.append("script01_1b")
        out += [f"Ses{session:02d}{actor}_{d}" for d in impro + scripts]
    return out


def build_iemocap(root: Path) -> None:
    """10,039 turns in 151 dialogs with the published per-code counts (Session5 2,170)."""
    rng = random.Random(0)
    rest = {k: v - IEMOCAP_S5.get(k, 0) for k, v in IEMOCAP_ALL.items()}
    pools = {5: [c for c, n in IEMOCAP_S5.items() for _ in range(n)],
             0: [c for c, n in rest.items() for _ in range(n)]}
    for pool in pools.values():
        rng.shuffle(pool)
    dialogs = {s: iemocap_dialogs(s) for s in range(1, 6)}
    early = [d for s in range(1, 5) for d in dialogs[s]]
    for session in range(1, 6):
        pool = pools[5 if session == 5 else 0]
        names = dialogs[session]
        share = len(names) / (len(dialogs[5]) if session == 5 else len(early))
        quota = round(share * (2170 if session == 5 else 7869)) if session != 4 else None
        turns = pool[:quota] if quota is not None else pool[:]
        del pool[:len(turns)]
        _iemocap_session(root / f"Session{session}", names, turns)


def _iemocap_session(folder: Path, dialogs: list[str], codes: list[str]) -> None:
    per = [len(codes) // len(dialogs) + (i < len(codes) % len(dialogs))
           for i in range(len(dialogs))]
    (folder / "dialog" / "EmoEvaluation" / "Categorical").mkdir(parents=True)
    (folder / "dialog" / "transcriptions").mkdir(parents=True)
    it = iter(codes)
    for dialog, n in zip(dialogs, per, strict=True):
        blocks, lines, count = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n"], [], \
            {"F": 0, "M": 0}
        for k in range(n):
            code, actor = next(it), "FM"[k % 2]
            turn = f"{dialog}_{actor}{count[actor]:03d}"
            count[actor] += 1
            start = 2.0 * k + 0.5
            vote = IEMOCAP_VOTES[code]
            blocks.append(f"[{start:.4f} - {start + 1.5:.4f}]\t{turn}\t{code}\t"
                          "[2.5000, 3.0000, 3.5000]\n"
                          f"C-E1:\t{vote};\t()\nC-E2:\t{vote};\t()\nC-{actor}1:\t{vote};\t()\n"
                          "A-E1:\tval 3; act 2; dom  2;\t()\n")
            lines.append(f"{turn} [{start:08.4f}-{start + 1.5:08.4f}]: Words number {k}.\n")
            link(folder / "sentences" / "wav" / dialog / f"{turn}.wav")
        (folder / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(blocks))
        (folder / "dialog" / "EmoEvaluation" / "Categorical" / f"{dialog}_e1_cat.txt"
         ).write_text("per-evaluator file, not read\n")
        (folder / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("".join(lines))


MSP_CLASSES = ["A", "S", "H", "U", "F", "D", "C", "N", "O", "X"]
MSP_LONG = {"A": "Angry", "S": "Sad", "H": "Happy", "U": "Surprise", "F": "Fear",
            "D": "Disgust", "C": "Contempt", "N": "Neutral", "O": "Other-Concerned",
            "X": "Neutral"}


def build_msp_podcast(root: Path, release: str = "1.11", n: int = 3000) -> list[dict]:
    """`n` segments in a release's naming: 1.6-1.9 `labels_concensus.csv`, `Audio/`, Validation;
    1.10+ `labels_consensus.csv`, `Audios/`, Development and Test3. labels_detailed.csv in the
    release's format: one row per rater with Workers (1.6) or WorkerID (2.0), else EmoDetail."""
    old = release in ("1.6", "1.7", "1.8", "1.9")
    splits = ["Train", "Validation" if old else "Development", "Test1", "Test2"] + \
        ([] if old else ["Test3"])
    label_dir = {"1.6": "label", "1.9": "labels"}.get(release, "Labels")
    rng = random.Random(1)
    rows, detailed = [], []
    for i in range(n):
        name = f"MSP-PODCAST_{i // 50 + 1:04d}_{i % 50 + 1:04d}.wav"
        cls = MSP_CLASSES[i % len(MSP_CLASSES)]
        rows.append({"FileName": name, "EmoClass": cls, "EmoAct": f"{rng.uniform(1, 7):.6g}",
                     "EmoVal": f"{rng.uniform(1, 7):.6g}", "EmoDom": f"{rng.uniform(1, 7):.1f}",
                     "SpkrID": "Unknown" if i % 7 == 0 else str(i // 50), "Gender":
                     "Unknown" if i % 7 == 0 else ("Female" if i % 2 else "Male"),
                     "Split_Set": splits[i % len(splits)]})
        for w in range(3):
            detailed.append((name, f"WORKER{(i + w) % 97:05d}", MSP_LONG[cls],
                             f"{MSP_LONG[cls]},Concerned", "4.0", "3.0", "5.0"))
        link(root / ("Audio" if old else "Audios") / name)
    labels = root / label_dir
    labels.mkdir(parents=True)
    consensus = "labels_concensus.csv" if old else "labels_consensus.csv"
    with open(labels / consensus, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(labels / "labels_detailed.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        if release in ("1.6", "2.0"):
            worker = "Workers" if release == "1.6" else "WorkerID"
            writer.writerow(["FileName", worker, "EmoClass_Major", "EmoClass_Second", "EmoAct",
                             "EmoVal", "EmoDom"])
            writer.writerows(detailed)
        else:
            writer.writerow(["FileName", "EmoDetail"])
            writer.writerows((d[0], f"{d[1]}; {d[2]}; {d[3]}; A:{d[4]}; V:{d[5]}; D:{d[6]};")
                             for d in detailed)
    return rows


def build_mosei(root: Path) -> dict[str, str]:
    """MMSA/MERBench's 22,856 segments (real ids and sentiment) in a computational-sequence
    label file, transcripts numbering every segment (labelled or not), the SDK's real folds.
    Returns segment id (`<video>_<N>`) -> split as MERBench has it."""
    import h5py
    import numpy as np

    with open(real("mosei", "merbench_cmumosei_segments.json"), encoding="utf-8") as fh:
        merbench = json.load(fh)
    segments: dict[str, dict[int, float]] = {}
    where = {}
    for split in ("train", "val", "test"):
        for seg, sentiment in merbench[f"{split}_corpus"].items():
            video, number = seg.rsplit("_", 1)
            segments.setdefault(video, {})[int(number)] = sentiment
            where[seg] = split
    with h5py.File(root / "CMU_MOSEI_Labels.csd", "w") as h5:
        data = h5.create_group("All Labels").create_group("data")
        for video, numbers in segments.items():
            order = sorted(numbers)
            g = data.create_group(video)
            g.create_dataset("intervals", data=np.array([[5.0 * k, 5.0 * k + 4.0] for k in order]))
            feats = np.zeros((len(order), 7), np.float32)
            feats[:, 0] = [numbers[k] for k in order]
            feats[:, 1] = [(k % 3) / 2 for k in order]
            g.create_dataset("features", data=feats)
    seg_dir = root / "Transcript" / "Segmented" / "Combined"
    seg_dir.mkdir(parents=True)
    for video, numbers in segments.items():
        link(root / "Raw" / "Audio" / "Full" / "WAV_16000" / f"{video}.wav")
        lines = [f"{video}___{k}___{5.0 * k}___{5.0 * k + 4.0}___words of segment {k}"
                 for k in range(max(numbers) + 2)]  # unlabelled segments are numbered too
        (seg_dir / f"{video}.txt").write_text("\n".join(lines) + "\n")
    with open(real("mosei", "cmu_mosei_std_folds.json"), encoding="utf-8") as fh:
        folds = json.load(fh)
    (root / "cmu_mosei_std_folds.py").write_text("".join(
        f"{name}={folds[name]!r}\n" for name in
        ("standard_train_fold", "standard_test_fold", "standard_valid_fold")))
    return where


MOSI_SEGMENTS = {"standard_train_fold": 1284, "standard_valid_fold": 229,
                 "standard_test_fold": 686}


def build_mosi(root: Path) -> dict[str, str]:
    """The SDK's real folds (93 videos) and a label sequence in its format (one sentiment per
    interval) with the published segment count of each fold spread over the fold's videos.
    Returns segment id (`<video>_r<i>`) -> fold name."""
    import h5py
    import numpy as np

    with open(real("mosei", "cmu_mosi_std_folds.json"), encoding="utf-8") as fh:
        folds = json.load(fh)
    where = {}
    with h5py.File(root / "CMU_MOSI_Opinion_Labels.csd", "w") as h5:
        data = h5.create_group("Opinion Segment Labels").create_group("data")
        for fold, total in MOSI_SEGMENTS.items():
            videos = folds[fold]
            for k, video in enumerate(videos):
                n = total // len(videos) + (k < total % len(videos))
                g = data.create_group(video)
                g.create_dataset("intervals", data=np.array([[3.0 * i, 3.0 * i + 2.5]
                                                             for i in range(n)]))
                g.create_dataset("features", data=np.linspace(-3, 3, n).reshape(n, 1))
                link(root / "Raw" / "Audio" / "WAV_16000" / "Full" / f"{video}.wav")
                link(root / "Raw" / "Video" / "Full" / f"{video}.mp4")
                link(root / "Raw" / "Audio" / "WAV_16000" / "Segmented" / f"{video}_1.wav")
                where.update({f"{video}_r{i}": fold for i in range(n)})
    (root / "cmu_mosi_std_folds.py").write_text("".join(
        f"{name}={folds[name]!r}\n" for name in MOSI_SEGMENTS))
    return where


CHSIMS_SPLITS = {"chsims": {"train": 1368, "valid": 456, "test": 457},
                 "chsims2": {"train": 2722, "valid": 647, "test": 1034}}


def build_chsims(root: Path, corpus: str = "chsims") -> list[dict]:
    """An MMSA label file (v1: label.csv, v2: meta.csv) at the published size and split, clips
    at Raw/<video_id>/<clip_id:04d>.mp4, texts with the commas and quotes real ones hold."""
    rows, n = [], 0
    for mode, count in CHSIMS_SPLITS[corpus].items():
        for _ in range(count):
            video, clip = f"video_{n // 40 + 1:04d}", n % 40 + 1
            t, a, v = (round(((n * k) % 11 - 5) / 5, 1) for k in (1, 3, 7))
            label = round((t + a + v) / 3, 1)
            rows.append({"video_id": video, "clip_id": clip, "text": f"我说，\"第{n}句\"。",
                         "label": label, "label_T": t, "label_A": a, "label_V": v,
                         "annotation": "Positive" if label > 0 else "Negative" if label < 0
                         else "Neutral", "mode": mode})
            link(root / "Raw" / video / f"{clip:04d}.mp4")
            n += 1
    with open(root / ("label.csv" if corpus == "chsims" else "meta.csv"), "w",
              newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def build_chsims2(root: Path) -> list[dict]:
    return build_chsims(root, "chsims2")


def build_pavoque(root: Path) -> list[dict]:
    """The six FLAC parts, and each part's YAML in the corpus's documented format (prompt,
    text, style, start, end) holding the entries EmoBox lists for it, times as listed."""
    import yaml

    records = emobox_records("pavoque")
    parts: dict[str, list[dict]] = {}
    for rec in records:
        flac = emobox_path(rec, "pavoque")
        prompt = rec["key"].split("-")[1]
        parts.setdefault(flac, []).append({
            "prompt": prompt, "text": f"Satz {prompt}.", "style": rec["emo"],
            "start": rec["start_time"], "end": rec["end_time"]})
    for flac, entries in parts.items():
        link(root / flac)
        (root / flac.replace(".flac", ".yaml")).write_text(
            yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
    return records


def build_mead(root: Path) -> list[str]:
    """Every audio file of MEAD's real list (EmoBox's audio map, 31,729 .m4a); the front-view
    video of one actor (M003) only, as a partial video download leaves it."""
    with gzip.open(real("emobox", "data", "mead", "data.seg.audmap.gz"), "rt",
                   encoding="utf-8") as fh:
        paths = [line.split()[4][len("downloads/mead/"):] for line in fh if line.strip()]
    for rel in paths:
        link(root / rel, "wav")
        if rel.startswith("M003/"):
            link(root / rel.replace("/audio/", "/video/front/").replace(".m4a", ".mp4"))
    return paths


CASIA_SPEAKERS = ("liuchanhg", "wangzhe", "zhaoquanyin", "ZhaoZuoxiang")
CASIA_EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")


def build_casia(root: Path) -> None:
    """The public subset as it circulates: <speaker>/<emotion>/201-250.wav (documented layout,
    no public list), under the full release's folder name for two of the speakers."""
    for k, speaker in enumerate(CASIA_SPEAKERS):
        base = root / "相同文本300" if k % 2 else root
        for emotion in CASIA_EMOTIONS:
            for sentence in range(201, 251):
                link(base / speaker / emotion / f"{sentence}.wav")


# nEMO's data.tsv (amu-cai/nEMO @ 66de999), counted: utterances per speaker and emotion
NEMO_EMOTIONS = ("anger", "fear", "happiness", "neutral", "sadness", "surprised")
NEMO_COUNTS = {"EB0": ("female", (90, 90, 90, 90, 90, 89)),
               "IC0": ("female", (90, 90, 90, 90, 90, 90)),
               "KD0": ("female", (90, 90, 90, 90, 90, 90)),
               "KS0": ("male", (90, 90, 90, 90, 90, 90)),
               "MK0": ("female", (90, 90, 90, 90, 90, 0)),
               "MP0": ("male", (29, 17, 30, 90, 49, 41)),
               "SM0": ("male", (90, 89, 89, 90, 90, 90)),
               "TP0": ("male", (90, 90, 90, 90, 90, 89)),
               "WR0": ("male", (90, 90, 90, 89, 90, 90))}


def build_nemo(root: Path) -> list[dict]:
    """data.tsv in the real file's form (speaker ids padded with eight spaces, texts with commas
    and Polish quotes) at the real per-speaker, per-emotion counts; samples/<file_id>."""
    rows = []
    for speaker, (gender, counts) in NEMO_COUNTS.items():
        for emotion, n in zip(NEMO_EMOTIONS, counts, strict=True):
            for i in range(1, n + 1):
                text = f"„Zdanie {i}”, powiedział."
                rows.append({"file_id": f"{speaker}_{emotion}_{i}.wav", "emotion": emotion,
                             "raw_text": text, "normalized_text": text.lower(),
                             "speaker_id": f"        {speaker}", "gender": gender, "age": "24"})
                link(root / "samples" / rows[-1]["file_id"])
    header = list(rows[0])
    (root / "data.tsv").write_text("\t".join(header) + "\n" + "".join(
        "\t".join(r[h] for h in header) + "\n" for r in rows), encoding="utf-8")
    return rows


MER2023_PARTS = {"train": 3373, "test1": 411, "test2": 412, "test3": 834}
MER2023_CLASSES = ("neutral", "angry", "happy", "sad", "worried", "surprise")


def build_mer2023(root: Path) -> dict[str, str]:
    """The four label CSVs in MERTools' columns at the published part sizes (test3 without
    valence), clips as .avi in train/ and test3/, .mp4 in test1/ and test2/. Returns name ->
    part."""
    where = {}
    for part, n in MER2023_PARTS.items():
        ext = "mp4" if part in ("test1", "test2") else "avi"
        lines = ["name,discrete" + ("" if part == "test3" else ",valence")]
        for i in range(n):
            name = f"sample_{part}_{i:05d}"
            cls = MER2023_CLASSES[i % len(MER2023_CLASSES)]
            lines.append(f"{name},{cls}" + ("" if part == "test3" else f",{(i % 11) - 5}"))
            link(root / part / f"{name}.{ext}")
            where[name] = part
        (root / f"{part}-label.csv").write_text("\n".join(lines) + "\n")
    return where


def build_emns(root: Path) -> list[dict]:
    """The real clips (EmoBox's list of cleaned_webm/) and a metadata.csv in the release's form:
    pipe-separated, `audio_recording` naming the file as recorded (wavs/<name>.webm), surprise
    spelled "Surprised" on every other row."""
    records = build_from_list(root, "emns")
    lines = ["id|utterance|description|emotion|date_created|status|gender|age|level|"
             "audio_recording|user_id"]
    for i, rec in enumerate(records):
        name = Path(emobox_path(rec, "emns")).name
        emotion = "Surprised" if rec["emo"] == "Surprise" and i % 2 else rec["emo"]
        lines.append(f"{i}|Line {i}, \"said\" with feeling.|{{user_id}} says it {{emotion}}."
                     f"|{emotion}|2022-09-01|published|Female|20s|{i % 10 + 1}|wavs/{name}|7")
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return records


# Corpora defined as data (jobs/corpora/*.yaml) need nothing beyond their real file list.
LIST_ONLY = ("aesdd", "ased", "asvpesd", "cafe", "emovdb", "emovo", "enterface", "jlcorpus",
             "mesd", "oreau", "polish", "resd", "shemo", "subesco", "turevdb", "urdu")


def builder(corpus: str):
    """The function that builds `corpus`'s full-scale tree."""
    if corpus in LIST_ONLY:
        return lambda root: build_from_list(root, corpus)
    return globals()[f"build_{corpus}"]

