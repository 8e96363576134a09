"""GPU and many-core measurements for a machine that has them (bench/gpu.sh runs this).

- wav2vec on one GPU: a wav2vec2-base-sized encoder (random weights saved the way a download
  is: no weights offline) over generated clips, `device=cuda`, batched forward passes in
  float16; x real time end to end and the GPU's busy share (nvidia-smi, sampled every 200 ms).
- ASR per core: whisper tiny.en int8 (the offline default) on 2-4 s clips, one CPU.
- eGeMAPS with 1 and N CPUs: the many-core scaling of the CPU stage.

Writes bench/gpu-results.md with the machine it ran on. Nothing here runs in CI.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import ray

from bench.run_bench import Sampler, machine
from mer_etl.demo import generate, many_performances
from mer_etl.pipeline import RunConfig, run


class GpuBusy(Sampler):
    """Mean GPU utilisation while the block runs, from nvidia-smi."""

    every = 0.2

    def __init__(self) -> None:
        super().__init__()
        self.samples: list[float] = []

    def sample(self) -> None:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                              "--format=csv,noheader,nounits"], capture_output=True,
                             text=True, check=False).stdout.split()
        if out:
            self.samples.append(float(out[0]))

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


def base_sized_model(path: Path) -> Path:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(path)  # the base architecture, 95 M
    Wav2Vec2FeatureExtractor(do_normalize=False).save_pretrained(path)
    return path


def timed_run(root: Path, out: Path, cpus: int | None, **kwargs: object) -> dict:
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        t0 = time.perf_counter()
        result = run(RunConfig(corpora=["ravdess"], roots=[str(root)], out=str(out),
                               reconcile=False, **kwargs))  # type: ignore[arg-type]
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    audio = result.card["run"]["audio_seconds"]
    stages = result.card["run"]["stage_seconds"]
    return {"wall": wall, "audio": audio, "x": audio / wall,
            "stages": {k: round(v, 1) for k, v in stages.items()},
            "stage_x": {k: round(audio / v, 1) for k, v in stages.items() if v}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=320)
    parser.add_argument("--out", default="bench/gpu-results.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mer-etl-gpu-bench-"))
    lines = ["# mer-etl GPU and many-core benchmark", "", f"- machine: {machine()}",
             f"- clips: {args.clips} generated RAVDESS-layout speech clips; `bench/gpu.sh` "
             "reproduces this", ""]
    try:
        corpus = work / "corpus"
        generate(corpus, many_performances(args.clips), video=False)
        cpus = os.cpu_count() or 1
        one = timed_run(corpus, work / "e1", 1, extractors=["egemaps"])
        many = timed_run(corpus, work / "en", cpus, extractors=["egemaps"])
        lines += [f"- eGeMAPS, 1 CPU: {one['wall']:.1f} s ({one['x']:.0f}x real time); "
                  f"{cpus} CPUs: {many['wall']:.1f} s ({many['x']:.0f}x); "
                  f"scaling {one['wall'] / many['wall']:.1f}x"]
        asr = timed_run(corpus, work / "a1", 1, extractors=["asr"])
        lines += [f"- ASR (whisper tiny.en int8), 1 CPU: {asr['x']:.1f}x real time per core "
                  f"end to end; per stage, x real time: {asr['stage_x']}"]
        if shutil.which("nvidia-smi"):
            model = base_sized_model(work / "w2v-base")
            with GpuBusy() as busy:
                gpu = timed_run(corpus, work / "g", None, extractors=["wav2vec"],
                                extractor_config={"wav2vec": {"model": str(model),
                                                              "frames": False}},
                                device="cuda")
            lines += [f"- wav2vec2-base-sized on one GPU: {gpu['wall']:.1f} s, "
                      f"{gpu['x']:.0f}x real time end to end, GPU busy {busy.mean:.0f}% "
                      f"(mean of {len(busy.samples)} samples); per stage, x real time: "
                      f"{gpu['stage_x']}"]
        else:
            lines += ["- no GPU (nvidia-smi not found): the wav2vec GPU figure was not measured"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
