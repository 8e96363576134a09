"""Loader throughput (samples/s) of the PyTorch loader on a dataset, e.g. the demo's.

Usage: python bench/loader_bench.py demo/out/demo [--epochs 5]; writes bench/loader-results.md.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from torch.utils.data import DataLoader

from bench.run_bench import machine
from mer_etl.loaders import MERDataset, pad_collate


def measure(path: str, workers: int, epochs: int, fields: list[str] | None) -> float:
    ds = MERDataset(path, fields=fields)
    loader = DataLoader(ds, batch_size=8, num_workers=workers, collate_fn=pad_collate,
                        persistent_workers=workers > 0)
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for _, labels in loader:
            n += len(labels["utt_id"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    for fields, what in ((None, "all arrays (functionals + LLD frames)"),
                         (["egemaps.functionals"], "functionals only")):
        for workers in (0, 2):
            rate = measure(args.path, workers, args.epochs, fields)
            rows.append(f"| {what} | {workers} | {rate:.0f} |")
    text = "\n".join([
        "# Loader throughput", "",
        f"- date: {datetime.now(UTC).isoformat(timespec='seconds')}",
        f"- machine: {machine()}",
        f"- dataset: {args.path}, {args.epochs} epochs, batch size 8, `pad_collate`",
        "- reproduce: `make demo && make bench-loader`", "",
        "| features | DataLoader workers | samples/s (incl. worker start-up) |",
        "| --- | ---: | ---: |", *rows, ""])
    Path("bench/loader-results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
