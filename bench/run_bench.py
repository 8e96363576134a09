"""End-to-end benchmark: mer-etl on Ray with 1 and 2 CPUs against a plain sequential per-file
loop over the same extractors, peak memory at 1x and 10x the corpus size, and the fixed cost of
a run on 2 and 320 clips, with Ray up and as a one-off `mer-etl run` in its own process.

Writes bench/results.md. Run with `make bench` (numbers depend on the machine; the file says
which one produced them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import psutil
import ray

from bench.extractor_bench import cpu_name
from mer_etl import extractors
from mer_etl.demo import generate, many_performances
from mer_etl.media.arrays import rows_to_table
from mer_etl.media.audio import decode_audio_at
from mer_etl.pipeline import RunConfig, run

EXTRACTORS = ["egemaps", "audio_stats"]


class Sampler:
    """Calls `sample()` every `every` seconds on a thread while the `with` block runs."""

    every = 0.5

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.every)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class PeakRSS(Sampler):
    """Peak resident memory of this process and every process it started (Ray's included)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0
        self.driver = 0  # this process alone: what every feature byte would pass through
        self._me = psutil.Process()
        # what this process held before (imports, an earlier run's freed heap): the growth
        # over it is what the run itself costs the driver
        self.driver_start = self._me.memory_info().rss

    def sample(self) -> None:
        total = 0
        for p in [self._me, *self._me.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        self.peak = max(self.peak, total)
        self.driver = max(self.driver, self._me.memory_info().rss)


def wide_wav2vec(path: Path) -> Path:
    """A random encoder with wav2vec2-base's 768-d frames (150 kB per second of audio) and a
    cheap body: a run whose features outweigh everything else, to see where they travel."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(num_hidden_layers=1, intermediate_size=256,
                                 conv_dim=(32,) * 7)).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(path)
    return path


def lengthen(root: Path, seconds: float) -> None:
    """Every WAV under root repeated to `seconds` (the issue's 20 s clips from the speech)."""
    import numpy as np
    import soundfile as sf

    for wav in root.rglob("*.wav"):
        data, rate = sf.read(wav, dtype="int16")
        sf.write(wav, np.tile(data, -(-int(seconds * rate) // data.size))[: int(seconds * rate)],
                 rate, subtype="PCM_16")


def ray_run(root: Path, out: Path, cpus: int, wav2vec: Path | None = None,
            names: list[str] | None = None, cold: bool = False) -> dict:
    """One run on a local Ray started beforehand (a cluster's case), or with `cold` started and
    stopped inside the timed wall (a one-off `mer-etl run`'s case)."""
    names = (names or EXTRACTORS) + (["wav2vec"] if wav2vec else [])
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        if not cold:
            t0 = time.perf_counter()
        try:
            result = run(RunConfig(
                corpora=["ravdess"], roots=[str(root)], out=str(out), extractors=names,
                shard_size=64,
                extractor_config={"wav2vec": {"model": str(wav2vec)}} if wav2vec else {}))
            wall = time.perf_counter() - t0
        finally:
            ray.shutdown()
        if cold:
            wall = time.perf_counter() - t0
    features = sum(f["bytes"] for rel, f in result.card["files"].items()
                   if rel.startswith(("features/", "shards/")))
    return {**card_row(result.card, wall, cpus, mem.peak), "driver": mem.driver,
            "driver_growth": mem.driver - mem.driver_start, "features": features}


def card_row(card: dict, wall: float, cpus: int, peak: int) -> dict:
    """A Ray row's figures from the run's card: audio, busy seconds per stage, utilisation."""
    stats = card["run"]
    busy = sum(stats["stage_seconds"].values())
    return {"wall": wall, "audio": stats["audio_seconds"], "busy": stats["stage_seconds"],
            "utilisation": busy / (wall * cpus), "rss": peak,
            "rows": card["counts"]["utterances"]}


def cli_run(root: Path, out: Path, cpus: int, names: list[str] | None = None) -> dict:
    """A one-off `mer-etl run` as a user types it: its own process (imports, Ray's start and
    stop, the summary all in the wall), timed from the outside."""
    names = names or EXTRACTORS
    cli = Path(sys.executable).with_name("mer-etl")
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        subprocess.run([str(cli), "run", "ravdess", "--root", str(root), "--out", str(out),
                        "--extractors", ",".join(names), "--num-cpus", str(cpus)],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
    card = json.loads(next(out.glob("*/*/dataset.json")).read_text())
    return card_row(card, wall, cpus, mem.peak)


def fixed_cost(r: dict, cpus: int) -> float:
    """The wall a run spends beyond its stages' work spread over its CPUs: what #14 calls the
    fixed cost (imports, Ray's start, planning and hashing, actor start, the tail, the card)."""
    return r["wall"] - sum(r["busy"].values()) / cpus


def sequential(root: Path, out: Path, names: list[str] | None = None) -> dict:
    """What the one-script-per-corpus approach does: one file after another, one process."""
    exs = [extractors.build(n) for n in names or EXTRACTORS]
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        rows: dict[str, list[dict]] = {ex.name: [] for ex in exs}
        audio = 0.0
        for wav in sorted(root.rglob("*.wav")):
            # each extractor at the rate it asks for (eGeMAPS: the file's own), as the
            # pipeline decodes it: the same work
            decoded = {r: decode_audio_at(str(wav), sample_rate=r)
                       for r in {ex.input_rate() for ex in exs}}
            first = next(iter(decoded.values()))
            audio += first[0].size / first[1]
            for ex in exs:
                rows[ex.name].append({"utt_id": str(wav), **ex.to_row(
                    ex.extract(*decoded[ex.input_rate()]))})
        import pyarrow.parquet as pq

        out.mkdir(parents=True, exist_ok=True)
        for ex in exs:  # one Parquet file per extractor, its rows converted as the writer does
            pq.write_table(rows_to_table(rows[ex.name], ex.schema()), out / f"{ex.name}.parquet")
        wall = time.perf_counter() - t0
    return {"wall": wall, "audio": audio, "rss": mem.peak, "rows": len(rows[exs[0].name])}


def machine() -> str:
    cpu = cpu_name() or platform.machine()
    return (f"{os.cpu_count()} cores of {cpu}, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
            f"Python {platform.python_version()}, Ray {ray.__version__}, {platform.system()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=240)
    parser.add_argument("--out", default="bench/results.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mer-etl-bench-"))
    try:
        small, large, tiny = work / "small", work / "large", work / "tiny"
        t0 = time.perf_counter()
        generate(large, many_performances(args.clips), video=False)
        generate(small, many_performances(args.clips // 10), video=False)
        generate(tiny, many_performances(2), video=False)
        c320 = work / "c320"
        generate(c320, many_performances(320), video=False)
        long = work / "long"
        generate(long, many_performances(160), video=False)
        lengthen(long, 20.0)
        gen = time.perf_counter() - t0
        results = {
            "ray, 2 CPUs, 2 clips (fixed cost)": ray_run(tiny, work / "o0", 2),
            "ray, 2 CPUs, 2 clips, Ray start and stop in the wall": ray_run(
                tiny, work / "o0c", 2, cold=True),
            "ray, 2 CPUs, 320 clips, eGeMAPS": ray_run(c320, work / "f1", 2, names=["egemaps"]),
            "one-off `mer-etl run`, 2 CPUs, 320 clips, eGeMAPS": cli_run(
                c320, work / "f2", 2, ["egemaps"]),
            "ray, 2 CPUs, 1x": ray_run(small, work / "o1", 2),
            "ray, 1 CPU, 10x": ray_run(large, work / "o2", 1),
            "ray, 2 CPUs, 10x": ray_run(large, work / "o3", 2),
            "sequential loop, 10x": sequential(large, work / "o4"),
            # the issue's own comparison: eGeMAPS (functionals + LLDs) on 160 clips of 20 s
            "ray, 2 CPUs, eGeMAPS, 160 x 20 s": ray_run(long, work / "o6", 2,
                                                        names=["egemaps"]),
            "sequential loop, eGeMAPS, 160 x 20 s": sequential(long, work / "o7", ["egemaps"]),
            # feature bytes x12: the driver's memory should not follow them
            "ray, 2 CPUs, 10x, + wav2vec 768-d frames": ray_run(
                large, work / "o5", 2, wide_wav2vec(work / "w2v")),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    write(Path(args.out), results, args.clips, gen)


def write(path: Path, results: dict, clips: int, gen: float) -> None:
    seq = results["sequential loop, 10x"]
    lines = [
        "# mer-etl benchmark",
        "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- corpus: {clips} generated RAVDESS-layout speech clips (espeak-ng, 48 kHz WAV; "
        f"the 1x corpus is {clips // 10} of them), generated in {gen:.0f} s",
        f"- extractors: {', '.join(EXTRACTORS)}; shard size 64; `make bench` reproduces this",
        "",
        "| run | clips | audio (s) | wall (s) | x real time | peak RSS, all processes (MiB) "
        "| driver peak RSS (growth in the run) / features written (MiB) | stage utilisation "
        "| busy seconds per stage |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results.items():
        busy = ", ".join(f"{k} {v:.1f}" for k, v in r.get("busy", {}).items()) or "-"
        mem = (f"{r['driver'] / 2**20:.0f} (+{r['driver_growth'] / 2**20:.0f}) / "
               f"{r['features'] / 2**20:.1f}" if "driver" in r else "-")
        util = f"{r['utilisation']:.0%}" if "utilisation" in r else "-"
        lines.append(f"| {name} | {r['rows']} | {r['audio']:.0f} | {r['wall']:.1f} | "
                     f"{r['audio'] / r['wall']:.1f} | {r['rss'] / 2**20:.0f} | {mem} | {util} "
                     f"| {busy} |")
    r1, r10 = results["ray, 2 CPUs, 1x"], results["ray, 2 CPUs, 10x"]
    long_ray = results["ray, 2 CPUs, eGeMAPS, 160 x 20 s"]
    long_loop = results["sequential loop, eGeMAPS, 160 x 20 s"]
    lines += [
        "",
        f"- speed-up over the sequential loop: 2 CPUs "
        f"{seq['wall'] / results['ray, 2 CPUs, 10x']['wall']:.2f}x, 1 CPU "
        f"{seq['wall'] / results['ray, 1 CPU, 10x']['wall']:.2f}x (Ray already up, as on a "
        "cluster; writing versioned shards included; the loop writes one Parquet file per "
        "extractor)",
        f"- eGeMAPS alone on 160 clips of 20 s (the speech repeated): 2 CPUs "
        f"{long_loop['wall'] / long_ray['wall']:.2f}x the sequential loop",
        f"- peak memory at 10x the clips: {r10['rss'] / r1['rss']:.2f}x the 1x peak "
        f"({r1['rss'] / 2**20:.0f} -> {r10['rss'] / 2**20:.0f} MiB)",
        "- utilisation = busy seconds of all stages / (wall seconds x CPUs)",
        "- driver peak RSS against features written: the driver gets each row's ids, "
        "outcomes and timings and each file's sha256; the workers write the shards",
        "- fixed cost on 320 clips (#14's measure: the wall beyond the stages' busy seconds "
        "over the CPUs), eGeMAPS: "
        f"{fixed_cost(results['ray, 2 CPUs, 320 clips, eGeMAPS'], 2):.1f} s with Ray up, "
        f"{fixed_cost(results['one-off `mer-etl run`, 2 CPUs, 320 clips, eGeMAPS'], 2):.1f} s "
        "for a one-off `mer-etl run` (its own process: imports, Ray's start and stop)",
        f"- fixed cost per run (2 clips, wall): "
        f"{results['ray, 2 CPUs, 2 clips, Ray start and stop in the wall']['wall']:.1f} s with "
        "Ray's start and stop (a one-off `mer-etl run`); every other ray row, like a run on a "
        "running cluster, starts timing with Ray up: "
        f"{results['ray, 2 CPUs, 2 clips (fixed cost)']['wall']:.1f} s (imports excluded: "
        "this process has them; planning, hashing, actor start, writing and the card included)",
        "",
    ]
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
