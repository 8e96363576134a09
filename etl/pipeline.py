"""One run: manifest -> version -> Ray Data stages -> shard files -> card."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import extractors
import jobs
from etl import version as versioning
from etl.decode import SAMPLE_RATE
from etl.progress import progress_bar
from etl.store import CARD, ERRORS, UTTERANCES, Store, shard_marker
from etl.writer import ShardWriter
from schemas import ERROR_SCHEMA, MANIFEST_SCHEMA, validate_table
from schemas.labels import load_label_schema

log = logging.getLogger("mer_etl")

# Columns the Ray stages need; labels stay in the driver and join back at write time.
WORK_COLUMNS = ["utt_id", "corpus", "audio_uri", "start", "end", "shard"]


@dataclass
class RunConfig:
    corpora: list[str]
    roots: list[str]
    out: str
    name: str | None = None
    extractors: list[str] = field(default_factory=lambda: ["egemaps"])
    extractor_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "cpu"
    num_cpus: int | None = None
    ray_address: str | None = None
    shard_size: int = 256
    batch_size: int = 4
    sample_rate: int = SAMPLE_RATE
    label_version: str = "v1"

    def output_config(self) -> dict[str, Any]:
        """The settings that change output bytes (hashed); placement settings are not."""
        return {"shard_size": self.shard_size, "sample_rate": self.sample_rate}


@dataclass
class RunResult:
    path: str
    version: str
    up_to_date: bool
    card: dict[str, Any]
    seconds: float


def _manifest(cfg: RunConfig) -> tuple[pa.Table, pa.Table]:
    tables, problems = [], []
    for corpus, root in zip(cfg.corpora, cfg.roots, strict=True):
        m = jobs.build_manifest(corpus, root, cfg.label_version)
        tables.append(m.table)
        problems.append(m.problems)
    table = pa.concat_tables(tables).sort_by("utt_id")
    dupes = pc.count_distinct(table["utt_id"]).as_py()
    if dupes != table.num_rows:
        raise jobs.CorpusError("utt_id collision across corpora: each id must be unique")
    return table, pa.concat_tables(problems)


def _shards(table: pa.Table, shard_size: int) -> pa.Table:
    idx = pa.array([i // shard_size for i in range(table.num_rows)], pa.int64())
    return table.append_column("shard", idx)


@dataclass
class Plan:
    """What a run will produce, known before any media is decoded."""

    manifest: pa.Table
    problems: pa.Table
    extractors: list[extractors.Extractor]
    inputs: dict[str, Any]  # everything the version hashes (kept in the card as provenance)
    version: str
    name: str
    store: Store


def plan(cfg: RunConfig) -> Plan:
    labels = load_label_schema(cfg.label_version)
    manifest, problems = _manifest(cfg)
    exs = [
        extractors.build(n, device=cfg.device, **cfg.extractor_config.get(n, {}))
        for n in cfg.extractors
    ]
    inputs = versioning.version_inputs(
        manifest, cfg.output_config(), [e.fingerprint() for e in exs],
        {"version": labels.version, "sha256": labels.sha256},
    )
    version = versioning.dataset_version(inputs)
    name = cfg.name or "+".join(cfg.corpora)
    store = Store(f"{cfg.out.rstrip('/')}/{name}/{version}")
    return Plan(manifest, problems, exs, inputs, version, name, store)


def run(cfg: RunConfig) -> RunResult:
    t0 = time.perf_counter()
    p = plan(cfg)
    store = p.store
    if store.exists(CARD):
        log.info("up to date: %s already holds version %s; nothing written", store.uri, p.version)
        return RunResult(store.uri, p.version, True, store.read_card(), time.perf_counter() - t0)

    work = _shards(p.manifest, cfg.shard_size)
    n_shards = (p.manifest.num_rows + cfg.shard_size - 1) // cfg.shard_size
    done = {s for s in range(n_shards) if store.exists(shard_marker(s))}
    if done:
        log.info("resuming %s: %d of %d shards already complete", store.uri, len(done), n_shards)
    todo = work.filter(pc.invert(pc.is_in(work["shard"], pa.array(sorted(done), pa.int64()))))
    stats = _process(cfg, todo, p.extractors, store, p.manifest) if todo.num_rows else {}
    card = _finish(cfg, p, stats, t0)
    return RunResult(store.uri, p.version, False, card, time.perf_counter() - t0)


def _ray_init(cfg: RunConfig) -> bool:
    """Start local Ray unless one is running or an address is given; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, **kwargs)
    else:
        ray.init(num_cpus=cfg.num_cpus, **kwargs)
    return True


def _process(cfg: RunConfig, todo: pa.Table, exs: list, store: Store,
             manifest: pa.Table) -> dict[str, Any]:
    import ray

    from etl.stages import ExtractorStage, decode_batch

    started = _ray_init(cfg)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # our own bar below reports utterances and shards
        ctx.execution_options.preserve_order = True  # shards complete one after another
        work = todo.select(WORK_COLUMNS)
        blocks = [work.slice(i, cfg.batch_size) for i in range(0, work.num_rows, cfg.batch_size)]
        ds = ray.data.from_arrow(blocks)
        ds = ds.map_batches(decode_batch, batch_format="pyarrow", batch_size=cfg.batch_size,
                            fn_kwargs={"sample_rate": cfg.sample_rate}, num_cpus=1)
        resources = ray.cluster_resources()
        max_actors = max(1, int(resources.get("CPU", 1)))
        max_gpus = max(1, int(resources.get("GPU", 0)))
        for ex in exs:
            res = ex.resources()
            ds = ds.map_batches(
                ExtractorStage,
                fn_constructor_kwargs={"name": ex.name, "config": ex.config,
                                       "device": cfg.device, "sample_rate": cfg.sample_rate},
                batch_format="pyarrow", batch_size=cfg.batch_size,
                # GPU stages get one actor per GPU the cluster has; CPU stages scale with CPUs.
                compute=ray.data.ActorPoolStrategy(
                    min_size=1, max_size=max_gpus if res.num_gpus else max_actors),
                num_cpus=res.num_cpus, num_gpus=res.num_gpus,
                memory=res.memory_mb * 2**20 if res.memory_mb else None,
            )
        ds = ds.drop_columns(["audio"])
        return _collect(ds, todo, exs, store, manifest)
    finally:
        if started:
            ray.shutdown()


def _collect(ds, todo: pa.Table, exs: list, store: Store, manifest: pa.Table) -> dict[str, Any]:
    """Stream results back and write each shard as soon as all its utterances have arrived."""
    by_id = {r["utt_id"]: r for r in manifest.to_pylist()}
    writer = ShardWriter(store, exs, by_id)
    expected = defaultdict(int)
    for s in todo["shard"].to_pylist():
        expected[s] += 1
    pending: dict[int, list[dict[str, Any]]] = defaultdict(list)
    stage_s: dict[str, float] = defaultdict(float)
    audio_s = 0.0
    with progress_bar(todo.num_rows, "utterances") as advance:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                audio_s += row["duration_s"] or 0.0
                for stage in ["decode", *(e.name for e in exs)]:
                    stage_s[stage] += row[f"{stage}_s"]
                shard = row["shard"]
                pending[shard].append(row)
                if len(pending[shard]) == expected[shard]:
                    writer.write(shard, pending.pop(shard))
                    slowest = max(stage_s, key=stage_s.get)
                    log.info("shard %d written (%d utterances); slowest stage so far: %s "
                             "(%.1f s total)", shard, expected[shard], slowest, stage_s[slowest])
                advance(1)
    return {"audio_seconds": audio_s, "stage_seconds": dict(stage_s)}


def _finish(cfg: RunConfig, p: Plan, stats: dict[str, Any], t0: float) -> dict[str, Any]:
    store, manifest, exs, inputs = p.store, p.manifest, p.extractors, p.inputs
    n_shards = (manifest.num_rows + cfg.shard_size - 1) // cfg.shard_size
    parts = [store.read_table(shard_marker(s)) for s in range(n_shards)]
    errors = validate_table(pa.concat_tables([p.problems, *parts]), ERROR_SCHEMA, "errors")
    store.write_table(ERRORS, errors)
    store.write_table(UTTERANCES, validate_table(manifest, MANIFEST_SCHEMA, "utterances"))
    files = {}
    for rel in store.files():
        sha, size = store.sha256(rel)
        files[rel] = {"sha256": sha, "bytes": size}
    failed = defaultdict(int)
    for stage in errors["stage"].to_pylist():
        failed[stage] += 1
    card = {
        "name": p.name,
        "version": p.version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": versioning.code_revision(),
        "format_version": versioning.FORMAT_VERSION,
        "label_schema": inputs["label_schema"],
        "corpora": {
            c: {"root": r, "utterances": int(pc.sum(pc.equal(manifest["corpus"], c)).as_py())}
            for c, r in zip(cfg.corpora, cfg.roots, strict=True)
        },
        "config": cfg.output_config(),
        "extractors": {
            e.name: {**e.fingerprint(), **e.describe(), "failed": failed.get(e.name, 0)}
            for e in exs
        },
        "counts": {
            "utterances": manifest.num_rows,
            "shards": n_shards,
            "errors": errors.num_rows,
            "errors_by_stage": dict(sorted(failed.items())),
            "by_split": _counts(manifest, "split"),
            "by_label": _counts(manifest, "label"),
            "by_corpus_label": _corpus_label_counts(manifest),
            "unlabeled": _unlabeled(manifest),
            "problems_by_type": _counts(p.problems, "error_type"),
        },
        "provenance": inputs,
        "run": {**stats, "wall_seconds": round(time.perf_counter() - t0, 3)},
        "files": files,
    }
    store.write_card(card)  # the card goes last: its presence marks the version complete
    store.remove_parts()
    return card


def _corpus_label_counts(table: pa.Table) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for corpus, label in zip(table["corpus"].to_pylist(), table["label"].to_pylist(), strict=True):
        out[corpus]["null" if label is None else label] += 1
    return {c: dict(sorted(v.items())) for c, v in sorted(out.items())}


def _unlabeled(table: pa.Table) -> list[dict[str, Any]]:
    """Every native code whose canonical label is null, with why and how often."""
    rows = table.filter(pc.is_null(table["label"])).select(
        ["corpus", "label_native", "label_status"]).to_pylist()
    seen: dict[tuple, int] = defaultdict(int)
    for r in rows:
        seen[(r["corpus"], r["label_native"], r["label_status"])] += 1
    return [{"corpus": c, "label_native": n, "label_status": s, "utterances": k}
            for (c, n, s), k in sorted(seen.items(), key=lambda x: tuple(map(str, x[0])))]


def _counts(table: pa.Table, column: str) -> dict[str, int]:
    values = table[column].to_pylist()
    out: dict[str, int] = defaultdict(int)
    for v in values:
        out["null" if v is None else v] += 1
    return dict(sorted(out.items()))
