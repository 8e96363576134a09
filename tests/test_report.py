"""`mer-etl report` writes a self-contained HTML page that a real browser renders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

MER_ETL = str(Path(sys.executable).with_name("mer-etl"))


def screenshot(html: Path, png: Path, profile: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--window-size=1200,2400", f"--screenshot={png}", html.as_uri()],
                   check=True, capture_output=True, timeout=120)


def test_report_renders_in_chromium(demo_run, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([MER_ETL, "report", demo_run[1].path, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    page = (out / "report.html").read_text()
    assert {p.name for p in out.glob("*.png")} == {"labels.png", "durations.png"}
    assert "24 utterances in 3 shard(s)" in page
    assert "src='http" not in page and "src=\"http" not in page  # self-contained
    assert len(re.findall(r"data:image/png;base64,", page)) == 2
    assert "<td>07</td><td>disgust</td><td>disgusted</td><td>labeled</td><td>3</td>" in page
    assert "Face coverage" in page and "not run for this dataset" in page
    shot = tmp_path / "shot.png"
    screenshot(out / "report.html", shot, tmp_path / "profile")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (2400, 1200)
    # Rendered text and plots, not a blank page: dark ink and the plots' blue bars.
    assert (pixels < 100).mean() > 0.005 and pixels.std() > 20
    rgb = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int32)
    blue = (rgb[..., 2] > 150) & (rgb[..., 0] < 80)
    assert blue.mean() > 0.01
