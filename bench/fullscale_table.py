"""Rows each corpus's adapter reads from its full-scale tree (tests/fullscale.py: the real file
lists in ../shared/real, tiny media behind every name) against the publisher's stated total,
as a Markdown table: `PYTHONPATH=. .venv/bin/python -m bench.fullscale_table`."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mer_etl import jobs
from mer_etl.schemas.publisher import load_publisher_facts
from tests import fullscale


def main() -> None:
    facts = load_publisher_facts()
    print("| corpus | modality | rows on the full-scale tree | publisher total | problems | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in sorted(jobs.ADAPTERS):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / name
            root.mkdir()
            fullscale.builder(name)(root)
            t0 = time.perf_counter()
            m = jobs.build_manifest(name, str(root))
            seconds = time.perf_counter() - t0
        stated = sum(c.total or 0 for c in facts[name].counts
                     if not c.optional and c.release is None)
        print(f"| {name} | {jobs.ADAPTERS[name].modality} | {m.table.num_rows:,} | "
              f"{stated:,} | {m.problems.num_rows} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
