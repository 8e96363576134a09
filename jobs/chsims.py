"""CH-SIMS and CH-SIMS v2: Chinese video clips with a sentiment label per modality (MMSA format).

Layout (thuiar/MMSA, thuiar/ch-sims-v2): `label.csv` (v2's supervised release may name it
`meta.csv`) with columns video_id, clip_id, text, label, label_T, label_A, label_V,
annotation, mode, and the clips at `Raw/<video_id>/<clip_id as 4 digits>.mp4`. `label` is the
multimodal sentiment in [-1, 1] (-> `sentiment`); label_T, label_A and label_V are the text-,
audio- and vision-only annotations, kept as their own entries of `label_by_modality`, never
folded into the overall label. `annotation` (Negative / Neutral / Positive, the sign of the
label) goes to meta. No categorical emotion: label status unlabeled. The split is the
publisher's `mode` (valid -> validation). Speakers are not identified: speaker null, the
source video id in meta.
"""

from __future__ import annotations

from fsspec import AbstractFileSystem

from mer_etl.jobs.base import (
    Adapter,
    LabelFileError,
    ScanResult,
    csv_records,
    read_text,
    safe_id,
    to_float,
)
from mer_etl.jobs.row import RowBuilder
from mer_etl.schemas.labels import LabelSchema, rescale

COLUMNS = ["video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V", "mode"]
MODALITIES = {"label_T": "text", "label_A": "audio", "label_V": "visual"}
SPLITS = {"train": "train", "valid": "validation", "test": "test"}
LABEL_FILES = ("label.csv", "meta.csv", "meta(s).csv")


def make_scan(corpus: str):
    def scan(fs: AbstractFileSystem, root: str, labels: LabelSchema) -> ScanResult:
        result, rows = ScanResult(), RowBuilder(corpus, labels)
        found = [f"{root}/{n}" for n in LABEL_FILES if fs.isfile(f"{root}/{n}")]
        if not found:
            result.problem(corpus, root, "MissingLabelFile",
                           f"expected one of {', '.join(LABEL_FILES)} in the root")
            return result
        path, bad = found[0], []
        try:
            records = list(csv_records(read_text(fs, path, ("utf-8-sig", "gb18030")), path,
                                       COLUMNS, bad))
        except LabelFileError as exc:
            result.problem(corpus, path, "LabelFileError", f"{exc} (no label read)")
            return result
        lo, hi = labels.corpus(corpus)["sentiment"]["range"]
        seen: set[str] = set()
        for line, rec in records:
            where = f"{path}:{line}"
            try:
                values = {k: to_float(rec[k], path, line, f"a sentiment for {k}")
                          for k in ("label", *MODALITIES)}
                clip = int(rec["clip_id"])
                if rec["mode"] not in SPLITS:
                    raise LabelFileError(path, line, "mode train, valid or test",
                                         rec["mode"])
                if any(not lo <= v <= hi for v in values.values()):
                    raise LabelFileError(path, line, f"sentiments in [{lo}, {hi}]",
                                         str(values))
            except (LabelFileError, ValueError) as exc:
                bad.append(exc if isinstance(exc, LabelFileError) else
                           LabelFileError(path, line, "an integer clip_id", rec["clip_id"]))
                continue
            media = f"{root}/Raw/{rec['video_id']}/{clip:04d}.mp4"
            native = safe_id(f"{rec['video_id']}_{clip:04d}")
            if native in seen:
                result.problem(corpus, where, "DuplicateRow", f"{native} listed twice; the "
                               "first row is kept")
                continue
            seen.add(native)
            if not fs.isfile(media):
                result.problem(corpus, media, "LabelWithoutMedia", f"{where}: no such clip")
                continue
            result.rows.append(rows.row(
                native, audio=media, video=media, split=SPLITS[rec["mode"]],
                transcript=rec["text"], sentiment=rescale(values["label"], lo, hi),
                sentiment_native=rec["label"],
                label_by_modality=[{"modality": m, "label": None, "label_native": None,
                                    "sentiment": rescale(values[k], lo, hi)}
                                   for k, m in MODALITIES.items()],
                meta={"video_id": rec["video_id"], "clip_id": clip,
                      "annotation": rec.get("annotation"), "source": where}))
        result.bad_lines(corpus, bad)
        return result

    return scan


LAYOUT = ("label.csv (MMSA: video_id, clip_id, text, label, label_T/A/V, mode) with "
          "Raw/<video_id>/<clip_id>.mp4")
ADAPTER = Adapter(name="chsims", layout=LAYOUT, scan=make_scan("chsims"))
V2_ADAPTER = Adapter(name="chsims2", layout=LAYOUT.replace("label.csv", "label.csv or meta.csv"),
                     scan=make_scan("chsims2"))
