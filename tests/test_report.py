"""`mer-etl report` writes a self-contained HTML page that a real browser renders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
from PIL import Image

MER_ETL = str(Path(sys.executable).with_name("mer-etl"))


def screenshot(html: Path, png: Path, profile: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--window-size=1200,2400", f"--screenshot={png}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)


def test_speaker_overlap_finds_leaking_speakers():
    import polars as pl

    from mer_etl.report import speaker_overlap

    utts = pl.DataFrame({"corpus": ["a", "a", "a", "b", "b"],
                         "speaker": ["s1", "s1", "s2", "s1", None],
                         "split": ["train", "test", "train", "train", "test"]})
    leaking = speaker_overlap(utts)
    assert leaking.to_dicts() == [{"corpus": "a", "speaker": "s1", "splits": "test, train",
                                   "utterances": 2}]


def test_report_links_every_problem_count_to_its_rows(demo_run, tmp_path):
    import shutil

    from mer_etl.report import build_report

    version = tmp_path / "v"
    shutil.copytree(demo_run[1].path, version)
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mer_etl.schemas import ERROR_SCHEMA

    rows = [{"corpus": "ravdess", "utt_id": None, "path": f"/c/x{i}.wav", "stage": "manifest",
             "error_type": "UnexpectedFile", "message": "expected a RAVDESS name"}
            for i in range(3)]
    pq.write_table(pa.Table.from_pylist(rows, schema=ERROR_SCHEMA), version / "errors.parquet")
    page = build_report(str(version), tmp_path / "r").read_text()
    assert "<td><a href='#errors-0'>UnexpectedFile</a></td><td>3</td>" in page
    assert "<h3 id='errors-0'>manifest: UnexpectedFile (3)</h3>" in page
    assert page.count("/c/x") == 3


def test_report_renders_in_chromium(demo_run, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([MER_ETL, "report", demo_run[1].path, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert {p.name for p in out.glob("*.png")} == {"labels.png", "durations.png",
                                                   "egemaps.png"}
    assert "24 utterances in 3 shard(s)" in page
    assert "src='http" not in page and "src=\"http" not in page  # self-contained
    assert len(re.findall(r"data:image/png;base64,", page)) == 3
    # what reviewers check: leakage, balance, publisher counts, rates, problems with links
    assert "no speaker appears in more than one split" in page
    assert "<td>ravdess</td><td>train</td><td>8</td><td>8</td>" in page  # balance per split
    assert "ravdess</td><td>speech</td><td>total</td><td>24</td><td>1440</td>" in page
    assert "<td>ravdess</td><td>48000</td><td>24</td>" in page  # the demo's native rate
    assert "no errors" in page
    assert "<td>07</td><td>disgust</td><td>disgusted</td><td>labeled</td><td>3</td>" in page
    assert "eGeMAPS per label" in page and "Face coverage" not in page  # only what ran
    shot = tmp_path / "shot.png"
    screenshot(out / "report.html", shot, tmp_path / "profile")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (2400, 1200)
    # Rendered text and plots, not a blank page: dark ink and the plots' blue bars.
    assert (pixels < 100).mean() > 0.005 and pixels.std() > 20
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 80)
    assert blue.mean() > 0.01


def test_perceived_label_by_presentation_modality(tmp_path):
    """Audio-only vs audio-visual plurality labels per corpus: a heatmap and its counts; ties
    (no plurality label) are left out."""
    from mer_etl.report_labels import agreement_section, modality_confusion_section

    def entry(modality, label):
        return {"modality": modality, "label": label, "label_native": None, "soft_label": None,
                "n_votes": 10, "entropy": None, "sentiment": None}

    utts = pl.DataFrame({"corpus": ["cremad"] * 3, "utt_id": ["a", "b", "c"],
                         "label_by_modality": [
                             [entry("audio", "angry"), entry("audiovisual", "angry")],
                             [entry("audio", "sad"), entry("audiovisual", "neutral")],
                             [entry("audio", None), entry("audiovisual", "sad")]]})
    html = modality_confusion_section(utts, tmp_path)
    assert "<th>neutral</th>" in html and "<th>angry</th>" in html  # audio-visual columns
    assert (tmp_path / "confusion-cremad-audio-audiovisual.png").stat().st_size > 1000
    assert html.count("<tr>") == 3  # header + angry + sad rows (the tie is left out)
    card = {"counts": {"agreement": [{"corpus": "cremad", "presentation": "audio",
                                      "source": "vote counts", "units": 3, "votes": 30,
                                      "alpha": 0.281, "mean_entropy": 0.46}]}}
    assert "0.281" in agreement_section(card)
    assert "before labels v2" in agreement_section({"counts": {}})
