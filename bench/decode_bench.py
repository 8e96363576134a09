"""Decoding per clip, in process (soundfile + soxr) against one ffmpeg process per clip, on
the demo corpus's WAV files: at the native rate and resampled to 16 kHz, one core.

Writes bench/decode-results.md. Run with `make bench-decode`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.run_bench import machine
from mer_etl.demo import generate
from mer_etl.media.audio import _ffmpeg, _in_process


def timed(fn: Callable[..., tuple[np.ndarray, int]], files: list[str], rate: int | None
          ) -> tuple[float, float]:
    """(seconds per clip, x real time) of decoding every file once."""
    t0 = time.perf_counter()
    audio = sum(s.size / r for s, r in (fn(f, None, None, rate, None) for f in files))
    wall = time.perf_counter() - t0
    return wall / len(files), audio / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", default="demo/RAVDESS")
    parser.add_argument("--out", default="bench/decode-results.md")
    args = parser.parse_args()
    root = Path(args.root)
    if not any(root.rglob("*.wav")):
        generate(root)
    files = sorted(str(p) for p in root.rglob("*.wav"))
    lines = ["# decoding per clip, one core", "",
             f"Machine: {machine()}; {datetime.now(UTC).date()}. {len(files)} WAV clips of "
             f"the demo corpus. Reproduce: `make bench-decode`.", "",
             "| decoder | rate | ms per clip | x real time |", "|---|---|---:|---:|"]
    for rate in (None, 16_000):
        for name, fn in (("ffmpeg process", _ffmpeg), ("in process", _in_process)):
            per, x = timed(fn, files, rate)
            lines.append(f"| {name} | {rate or 'native'} | {per * 1000:.2f} | {x:.0f} |")
    same = all(np.array_equal(_ffmpeg(f, None, None, None, None)[0],
                              _in_process(f, None, None, None, None)[0]) for f in files)
    lines += ["", f"- native-rate samples identical to ffmpeg's on every clip: {same}"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
