"""Take the processed rows off the Ray Data stream and have every shard written on a worker as
soon as its last utterance is in.

Processed blocks stay in Ray's object store. The driver takes their references off the stream
(`iter_internal_ref_bundles`) and gets back only each row's small columns (ids, outcomes,
timings) from a writer actor beside the blocks; once a shard is complete, the same actor gets
the shard's block references and writes its files (etl/writer.py) straight to the output URI,
returning each file's sha256 and size, hashed while writing. No feature byte passes through
the driver, so its memory does not grow with the features.

Writer actors ask for no CPU: the extractor pools hold every CPU until the stream ends, and a
writer waiting for one would never run (the deadlock etl.runner's stages avoid). They are
long-lived, so no worker process starts per shard.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mer_etl import contract as c
from mer_etl import extractors, quarantine, words
from mer_etl.layout import LAYOUT
from mer_etl.plan import Plan
from mer_etl.progress import progress_bar

log = logging.getLogger("mer_etl")

AHEAD = 8  # bundles whose small columns are on their way while the next ones are taken
THREADS = 4  # writes one writer actor runs side by side (Parquet, zstd and I/O drop the GIL)
_BLOB = c.blob_column("")


class WriteFailed(RuntimeError):
    """A shard's files could not be written (after the actor's own retries): the run stops."""


@dataclass(frozen=True)
class Piece:
    """Rows [start, end) of one processed block in the object store (end None: to its end)."""

    ref: Any
    start: int = 0
    end: int | None = None


def _sliced(slices: list[tuple[int, int | None]], blocks: tuple[Any, ...]) -> list[pa.Table]:
    from ray.data.block import BlockAccessor

    tables = [BlockAccessor.for_block(b).to_arrow() for b in blocks]
    return [t.slice(start, (t.num_rows if end is None else end) - start)
            for t, (start, end) in zip(tables, slices, strict=True)]


class ShardWriterActor:
    """A Ray actor: reads the small columns of processed blocks and writes complete shards.
    The blocks arrive as values (Ray resolves the references where the actor runs)."""

    def __init__(self, specs: list[tuple[str, dict[str, Any]]], device: str) -> None:
        # Imports and the extractors (schemas, packing; no models) now, while the stream
        # starts, instead of in the last shard's write at the end of the run.
        _without_torch()
        from mer_etl.writer import warm

        self.specs, self.device = specs, device  # every extractor of the plan
        warm(specs, device)

    def small(self, slices: list[tuple[int, int | None]], *blocks: Any) -> list[pa.Table]:
        """Each block's columns but the feature blobs."""
        return [t.drop_columns([n for n in t.column_names if n.endswith(_BLOB)])
                for t in _sliced(slices, blocks)]

    def write(self, store: Any, shard: int, units: list[str], manifest: list[dict[str, Any]],
              expected: int, rows: list[dict[str, Any]], view: bool,
              slices: list[tuple[int, int | None]], *blocks: Any) -> dict[str, tuple[str, int]]:
        from mer_etl.writer import write_shard

        return write_shard(store, shard, units, manifest, self.specs, self.device, expected,
                           rows, _sliced(slices, blocks), view)


def _without_torch() -> None:
    """Import webdataset with torch hidden. Its package imports torch for DataLoader shims
    (0.8 s, twice that in CPU while the extractor actors start beside it); a writer actor
    only writes tars, and its process runs nothing else. Where torch is already in, as
    in a process that ran a model, nothing changes."""
    import sys

    if "torch" in sys.modules or "webdataset" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # import torch: ModuleNotFoundError
    try:
        import webdataset  # noqa: F401
    except ImportError:  # a release that needs torch after all: imported the usual way later
        for name in [m for m in sys.modules if m.split(".")[0] == "webdataset"]:
            del sys.modules[name]
    finally:
        del sys.modules["torch"]


def start_writers(p: Plan, device: str) -> list[Any]:
    """The writer actors: for a local --out one on the driver's node (another node's writes
    would land on that node's disk); for an object store one per node, the shards spread
    over them."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    if p.store.is_local:
        nodes = [ray.get_runtime_context().get_node_id()]
    else:
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
    cls = ray.remote(num_cpus=0, max_concurrency=THREADS,
                     max_restarts=quarantine.WORKER_RETRIES,
                     max_task_retries=quarantine.WORKER_RETRIES)(ShardWriterActor)
    specs = [(e.name, e.config) for e in p.extractors]
    return [cls.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        node, soft=not p.store.is_local)).remote(specs, device) for node in nodes]


class Collector:
    """Counts the processed rows (from Ray Data or the quarantine) and has each shard's units
    written as soon as all its utterances have arrived. Ray Data's rows come as small columns
    with the `Piece` of the block holding their features; the quarantine's arrive whole and
    are handed to the writer as values."""

    def __init__(self, p: Plan, rows: pa.Table, exs: list[extractors.Extractor],
                 todo: dict[str, list[int]], writers: list[Any]) -> None:
        self.p, self.exs, self.writers = p, exs, writers
        self.todo = {unit: set(shards) for unit, shards in todo.items()}
        self.expected: dict[int, int] = defaultdict(int)
        for s in rows["shard"].to_pylist():
            self.expected[s] += 1
        self.pending: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.pieces: dict[int, dict[Piece, None]] = defaultdict(dict)  # ordered sets
        self.whole: dict[int, list[dict[str, Any]]] = defaultdict(list)  # quarantine rows
        self.handed: set[int] = set()  # shards given to a writer
        self.futures: dict[Any, int] = {}
        self.stage_s: dict[str, float] = defaultdict(float)
        self.audio_s = 0.0
        # with a word view, a writer builds a shard's part right after the shard's units,
        # where it is missing (etl.runner removed the stale ones)
        self.view = bool(p.views())
        self.view_parts = 0

    def add(self, row: dict[str, Any], piece: Piece | None = None) -> None:
        """One processed row: its small columns and where its features are (`piece`), or,
        with no piece, the whole row."""
        self.audio_s += row.get(c.DURATION) or 0.0
        stages = ([(c.DECODE, c.DECODE)] if self.exs else []) + [
            (e.name, c.outcome_column(e.name)) for e in self.exs]
        for stage, col in stages:  # a quarantined row has no decode outcome
            self.stage_s[stage] += (row.get(col) or {}).get("seconds") or 0.0
        shard = row["shard"]
        self.pending[shard].append(row)
        if piece is None:
            self.whole[shard].append(row)
        else:
            self.pieces[shard][piece] = None
        if len(self.pending[shard]) == self.expected[shard]:
            self._hand_over(shard)

    def _hand_over(self, shard: int) -> None:
        import ray

        rows = self.pending.pop(shard)
        units = [u for u, shards in self.todo.items() if shard in shards]
        manifest = self.p.manifest
        ids = pa.array([r["utt_id"] for r in rows])
        manifest_rows = manifest.filter(pc.is_in(manifest["utt_id"], ids)).to_pylist()
        pieces = list(self.pieces.pop(shard, {}))
        while len(self.futures) >= THREADS * len(self.writers):  # bounded, like the stream
            self._settle(ray.wait(list(self.futures), num_returns=1)[0])
        writer = self.writers[shard % len(self.writers)]
        future = writer.write.remote(
            self.p.store, shard, units, manifest_rows, len(rows), self.whole.pop(shard, []),
            self.view, [(x.start, x.end) for x in pieces], *[x.ref for x in pieces])
        self.futures[future] = shard
        self.handed.add(shard)

    def _settle(self, done: list[Any]) -> None:
        import ray

        for future in done:
            shard = self.futures.pop(future)
            try:
                written = ray.get(future)
                self.p.store.written.update(written)
                self.view_parts += LAYOUT.view_part(words.UNIT, shard) in written
            except Exception as exc:  # never mistaken for a dead extractor worker
                cause = getattr(exc, "cause", None) or exc  # the writer's own error, one line
                raise WriteFailed(f"writing shard {shard} to {self.p.store.uri} failed: "
                                  f"{type(cause).__name__}: {cause}") from exc
            slowest = max(self.stage_s, key=self.stage_s.get) if self.stage_s else "-"
            log.info("shard %d written (%d utterances); slowest stage so far: %s",
                     shard, self.expected[shard], slowest)

    def finish(self) -> None:
        """Wait for every write handed out."""
        if self.futures:
            self._settle(list(self.futures))

    def left(self, work: pa.Table) -> pa.Table:
        """The utterances a failed stream still owes: neither in a shard handed to a writer
        nor waiting, processed, for the rest of their shard."""
        done = {r["utt_id"] for rows in self.pending.values() for r in rows}
        keep = [uid not in done and shard not in self.handed for uid, shard in
                zip(work["utt_id"].to_pylist(), work["shard"].to_pylist(), strict=True)]
        return work.filter(pa.array(keep, pa.bool_()))

    def stats(self) -> dict[str, Any]:
        return {"audio_seconds": self.audio_s, "stage_seconds": dict(self.stage_s),
                "words_parts_on_workers": self.view_parts}


def collect(ds: Any, collector: Collector, total: int) -> None:
    """Stream the processed blocks' references from Ray Data into the collector, their small
    columns requested a few bundles ahead."""
    import ray

    window: deque[tuple[Any, list[Piece]]] = deque()
    with progress_bar(total, "utterances") as advance:

        def drain(keep: int) -> None:
            while len(window) > keep:
                future, pieces = window.popleft()
                for piece, table in zip(pieces, ray.get(future), strict=True):
                    for row in table.to_pylist():
                        collector.add(row, piece)
                        advance(1)

        for i, bundle in enumerate(ds.iter_internal_ref_bundles()):
            pieces = [Piece(entry.ref, *((cut.start_offset, cut.end_offset) if cut else (0, None)))
                      for entry, cut in zip(bundle.blocks, bundle.slices, strict=True)]
            writer = collector.writers[i % len(collector.writers)]
            window.append((writer.small.remote([(x.start, x.end) for x in pieces],
                                               *[x.ref for x in pieces]), pieces))
            drain(AHEAD)
        drain(0)
