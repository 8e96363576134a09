"""Frames per second of the faces extractor with and without facial expressions, one process,
on the demo corpus's videos: `PYTHONPATH=. .venv/bin/python -m bench.expressions_bench
[demo/RAVDESS]` (run `make demo` first)."""

from __future__ import annotations

import glob
import sys
import time

from mer_etl.extractors import build


def main(corpus: str = "demo/RAVDESS") -> None:
    videos = sorted(glob.glob(f"{corpus}/Actor_*/01-*.mp4"))[:12]
    if not videos:
        raise SystemExit(f"no demo videos under {corpus}: run `make demo` first")
    for expressions in (False, True):
        ex = build("faces", backend="dlib", expressions=expressions)
        ex.setup()
        ex.extract(videos[0], None, None)  # models warm
        t0, frames = time.perf_counter(), 0
        for video in videos:
            frames += len(ex.extract(video, None, None)["frame_times"])
        seconds = time.perf_counter() - t0
        print(f"expressions={expressions}: {frames} frames in {seconds:.2f} s = "
              f"{frames / seconds:.1f} frames/s")


if __name__ == "__main__":
    main(*sys.argv[1:])
