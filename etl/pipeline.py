"""One run: manifest -> plan (version, reusable units) -> Ray Data stages -> shards -> card."""

from __future__ import annotations

import logging
import re
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
from etl import words
from etl.progress import progress_bar
from etl.store import (
    BASE,
    CARD,
    ERRORS,
    UTTERANCES,
    Store,
    UnsafeDatasetPath,
    status_part,
    unit_files,
    unit_marker,
)
from etl.writer import ShardWriter
from schemas import ERROR_SCHEMA, MANIFEST_SCHEMA, STATUS_SCHEMA, validate_table
from schemas.labels import load_label_schema

log = logging.getLogger("mer_etl")

# Columns the Ray stages need; labels stay in the driver and join back at write time.
WORK_COLUMNS = ["utt_id", "corpus", "audio_uri", "start", "end", "video_uri", "video_start",
                "video_end", "shard"]
# What extractor outputs depend on in the manifest: media and spans, never labels, so a new
# label schema or a relabelled corpus recomputes no features.
MEDIA_COLUMNS = ["utt_id", "audio_uri", "audio_sha256", "start", "end",
                 "video_uri", "video_sha256", "video_start", "video_end"]


DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


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
    label_version: str = "v1"
    adapters: dict[str, jobs.Adapter] = field(default_factory=dict)  # custom corpora by name

    def output_config(self) -> dict[str, Any]:
        """The settings that change output bytes (hashed); placement settings are not."""
        return {"shard_size": self.shard_size}


@dataclass
class RunResult:
    path: str
    version: str
    up_to_date: bool
    card: dict[str, Any]
    seconds: float


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
    # found vs publisher counts per corpus, subset and split (jobs/reconcile.py)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)

    @property
    def units(self) -> dict[str, str]:
        """Content key of each unit (the base shards, each extractor's outputs)."""
        return self.inputs["units"]

    @property
    def n_shards(self) -> int:
        size = self.inputs["config"]["shard_size"]
        return (self.manifest.num_rows + size - 1) // size


def _manifest(cfg: RunConfig) -> tuple[pa.Table, pa.Table, list[dict[str, Any]]]:
    tables, problems, reconciliation = [], [], []
    for corpus, root in zip(cfg.corpora, cfg.roots, strict=True):
        m = jobs.build_manifest(cfg.adapters.get(corpus, corpus), root, cfg.label_version)
        tables.append(m.table)
        problems.append(m.problems)
        reconciliation += m.reconciliation
    table = pa.concat_tables(tables).sort_by("utt_id")
    if pc.count_distinct(table["utt_id"]).as_py() != table.num_rows:
        raise jobs.CorpusError("utt_id collision across corpora: each id must be unique")
    return table, pa.concat_tables(problems), reconciliation


def plan(cfg: RunConfig) -> Plan:
    labels = load_label_schema(cfg.label_version)
    manifest, problems, reconciliation = _manifest(cfg)
    exs = [
        extractors.build(n, device=cfg.device, **cfg.extractor_config.get(n, {}))
        for n in cfg.extractors
    ]
    label_schema = {"version": labels.version, "sha256": labels.sha256}
    media = versioning.table_digest(manifest.select(MEDIA_COLUMNS))
    output = cfg.output_config()
    units = {BASE: versioning.digest({"format": versioning.FORMAT_VERSION,
                                      "manifest": versioning.table_digest(manifest),
                                      "shard_size": cfg.shard_size, "labels": label_schema})}
    for ex in exs:
        units[ex.name] = versioning.digest({"format": versioning.FORMAT_VERSION, "media": media,
                                            "config": output, "extractor": ex.fingerprint()})
    if srcs := words.sources(exs):  # the word-aligned view is a unit of its own
        units[words.UNIT] = words.unit_key(units, srcs)
    inputs = versioning.version_inputs(manifest, output, [e.fingerprint() for e in exs],
                                       label_schema)
    inputs["units"] = units
    version = versioning.dataset_version(inputs)
    name = cfg.name or "+".join(cfg.corpora)
    if not DATASET_NAME_RE.match(name):
        raise ValueError(f"dataset name {name!r}: expected letters, digits and _ . + - only, "
                         "so the output stays inside --out")
    store = Store(f"{cfg.out.rstrip('/')}/{name}/{version}")
    return Plan(manifest, problems, exs, inputs, version, name, store, reconciliation)


def run(cfg: RunConfig) -> RunResult:
    t0 = time.perf_counter()
    return execute(cfg, plan(cfg), t0)


def execute(cfg: RunConfig, p: Plan, t0: float | None = None) -> RunResult:
    """Produce the planned version: reuse what earlier versions have, resume what a killed
    run left, compute the rest, then write the card."""
    t0 = time.perf_counter() if t0 is None else t0
    store = p.store
    if store.exists(CARD):
        log.info("up to date: %s already holds version %s; nothing written", store.uri, p.version)
        return RunResult(store.uri, p.version, True, store.read_card(), time.perf_counter() - t0)
    if stale := store.remove_stale_temporaries():
        log.info("removed %d partial file(s) a killed run left in %s", stale, store.uri)
    reused = _reuse(p)
    compute = [ex for ex in p.extractors if ex.name not in reused]
    units = ([] if BASE in reused else [BASE]) + [ex.name for ex in compute]
    todo_shards = sorted({s for s in range(p.n_shards) for u in units
                          if not store.exists(unit_marker(u, s))})
    if len(todo_shards) < p.n_shards and todo_shards:
        log.info("resuming %s: %d of %d shards left", store.uri, len(todo_shards), p.n_shards)
    todo = shard_rows(p, todo_shards)
    stats = _process(cfg, p, todo, compute, write_base=BASE in units) if todo.num_rows else {}
    stats["computed"] = [ex.name for ex in compute]
    stats["reused"] = reused
    if srcs := words.sources(p.extractors):
        stats["words_parts_built"] = words.write_missing(store, p.n_shards, srcs)
    card = _finish(cfg, p, stats, t0)
    return RunResult(store.uri, p.version, False, card, time.perf_counter() - t0)


def shard_rows(p: Plan, shards: list[int]) -> pa.Table:
    """The manifest rows of the given shards, with their shard number."""
    size = p.inputs["config"]["shard_size"]
    work = p.manifest.append_column(
        "shard", pa.array([i // size for i in range(p.manifest.num_rows)], pa.int64()))
    return work.filter(pc.is_in(work["shard"], pa.array(shards, pa.int64())))


def _reuse(p: Plan) -> dict[str, str]:
    """Copy every unit whose content key matches one in an earlier complete version.

    Keys cover the unit's inputs (media hashes, config, extractor fingerprint), and each copied
    file is checked against the donor card's sha256, so reuse is by content, never by name.
    """
    reused: dict[str, str] = {}
    for donor in p.store.versions():
        card = donor.read_card()
        theirs = card.get("provenance", {}).get("units", {})
        for unit, key in p.units.items():
            if unit in reused or theirs.get(unit) != key:
                continue
            # Files go one at a time (a unit can be gigabytes). Status parts sort last, so a
            # mismatch found part-way leaves no shard marked complete with a bad file.
            files = unit_files(unit, sorted(card["files"]))
            for rel in files:
                try:
                    data = donor.read_bytes(rel)
                except UnsafeDatasetPath as exc:  # a donor card naming ../ is never followed
                    log.warning("not reusing %s from %s: %s", unit, donor.uri, exc)
                    break
                if versioning.sha256_bytes(data) != card["files"][rel]["sha256"]:
                    log.warning("not reusing %s from %s: %s changed since it was written",
                                unit, donor.uri, rel)
                    break
                p.store.write_bytes(rel, data)
            else:
                reused[unit] = card["version"]
                log.info("reused %s from version %s (%d files)", unit, card["version"], len(files))
    return reused


def _ray_init(cfg: RunConfig) -> bool:
    """Start local Ray unless one is running or an address is given; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, **kwargs)
    else:
        # "local": always a new local Ray, never a stale cluster `ray start` left on record.
        ray.init(address="local", num_cpus=cfg.num_cpus, **kwargs)
    return True


def _process(cfg: RunConfig, p: Plan, todo: pa.Table, exs: list[extractors.Extractor],
             write_base: bool) -> dict[str, Any]:
    import ray

    from etl.stages import ExtractorStage

    started = _ray_init(cfg)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # our own bar below reports utterances and shards
        ctx.execution_options.preserve_order = True  # shards complete one after another
        work = todo.select(WORK_COLUMNS)
        blocks = [work.slice(i, cfg.batch_size) for i in range(0, work.num_rows, cfg.batch_size)]
        ds = ray.data.from_arrow(blocks)
        resources = ray.cluster_resources()
        max_actors = max(1, int(resources.get("CPU", 1)))
        max_gpus = max(1, int(resources.get("GPU", 0)))
        cpu = [ex for ex in exs if not ex.resources().num_gpus]
        gpu = [ex for ex in exs if ex.resources().num_gpus]
        groups = ([cpu] if cpu else []) + [[ex] for ex in gpu]
        # CPUs the GPU actors need are kept free, or the CPU pool would starve them.
        max_actors = max(1, max_actors - int(sum(ex.resources().num_cpus for ex in gpu)
                                             * max_gpus))
        # Each sample rate the audio extractors want is decoded once, in the first stage.
        rates = list(dict.fromkeys(ex.input_rate() for ex in exs if ex.modality == "audio"))
        for i, group in enumerate(groups):
            res = [ex.resources() for ex in group]
            gpus = max(r.num_gpus for r in res)
            memory = sum(r.memory_mb or 0 for r in res)
            ds = ds.map_batches(
                ExtractorStage,
                fn_constructor_kwargs={"specs": [(ex.name, ex.config) for ex in group],
                                       "device": cfg.device,
                                       # The first stage decodes: a separate decode task could
                                       # find every CPU held by a full actor pool and wait
                                       # forever.
                                       "rates": rates if i == 0 else None,
                                       "drop_audio": i == len(groups) - 1},
                batch_format="pyarrow", batch_size=cfg.batch_size,
                # A GPU stage gets one actor per GPU the cluster has; the CPU stage one per CPU
                # from the start (an autoscaling pool stayed at one actor on small machines).
                compute=ray.data.ActorPoolStrategy(size=max_gpus if gpus else max_actors),
                num_cpus=max(r.num_cpus for r in res), num_gpus=gpus,
                memory=memory * 2**20 if memory else None,
            )
        return _collect(ds, p, todo, exs, write_base)
    finally:
        if started:
            ray.shutdown()


def _collect(ds, p: Plan, todo: pa.Table, exs: list[extractors.Extractor],
             write_base: bool) -> dict[str, Any]:
    """Stream results back and write each shard as soon as all its utterances have arrived."""
    writer = ShardWriter(p.store, {r["utt_id"]: r for r in p.manifest.to_pylist()})
    expected: dict[int, int] = defaultdict(int)
    for s in todo["shard"].to_pylist():
        expected[s] += 1
    pending: dict[int, list[dict[str, Any]]] = defaultdict(list)
    stage_s: dict[str, float] = defaultdict(float)
    audio_s = 0.0
    with progress_bar(todo.num_rows, "utterances") as advance:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                audio_s += row.get("duration_s") or 0.0
                for stage in ["decode", *(e.name for e in exs)] if exs else []:
                    stage_s[stage] += row[f"{stage}_s"]
                shard = row["shard"]
                pending[shard].append(row)
                if len(pending[shard]) == expected[shard]:
                    rows = pending.pop(shard)
                    if write_base and not p.store.exists(unit_marker(BASE, shard)):
                        writer.write_base(shard, [r["utt_id"] for r in rows])
                    for ex in exs:
                        if not p.store.exists(status_part(ex.name, shard)):
                            writer.write_extractor(ex, shard, rows)
                    slowest = max(stage_s, key=stage_s.get) if stage_s else "-"
                    log.info("shard %d written (%d utterances); slowest stage so far: %s",
                             shard, expected[shard], slowest)
                advance(1)
    return {"audio_seconds": audio_s, "stage_seconds": dict(stage_s)}


def _errors(p: Plan, statuses: pa.Table) -> pa.Table:
    """Manifest problems plus every failed status, a decode failure listed once per utterance."""
    where = {r["utt_id"]: r for r in p.manifest.select(["utt_id", "corpus", "audio_uri"])
             .to_pylist()}
    rows, seen = [], set()
    for st in statuses.filter(pc.equal(statuses["status"], "failed")).to_pylist():
        stage = "decode" if st["stage"] == "decode" else st["extractor"]
        if (st["utt_id"], stage) in seen:
            continue
        seen.add((st["utt_id"], stage))
        utt = where[st["utt_id"]]
        rows.append({"corpus": utt["corpus"], "utt_id": st["utt_id"], "path": utt["audio_uri"],
                     "stage": stage, "error_type": st["reason"], "message": st["message"]})
    table = pa.concat_tables([p.problems, pa.Table.from_pylist(rows, schema=ERROR_SCHEMA)])
    return validate_table(table, ERROR_SCHEMA, "errors")


def _finish(cfg: RunConfig, p: Plan, stats: dict[str, Any], t0: float) -> dict[str, Any]:
    store, manifest = p.store, p.manifest
    statuses = pa.concat_tables(
        [pa.Table.from_pylist([], schema=STATUS_SCHEMA)]
        + [store.read_table(status_part(ex.name, s))
           for ex in p.extractors for s in range(p.n_shards)])
    errors = _errors(p, statuses)
    store.write_table(ERRORS, errors)
    store.write_table(UTTERANCES, validate_table(manifest, MANIFEST_SCHEMA, "utterances"))
    files = {}
    for rel in store.files():
        sha, size = store.sha256(rel)
        files[rel] = {"sha256": sha, "bytes": size}
    failed = _counts(errors, "stage")
    reused = stats.get("reused", {})
    card = {
        "name": p.name,
        "version": p.version,
        # Donors are tried newest first, so the first unit reused names the newest parent.
        "parent": next(iter(reused.values()), None),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": versioning.code_revision(),
        "format_version": versioning.FORMAT_VERSION,
        "label_schema": p.inputs["label_schema"],
        "corpora": {
            c: {"root": r, "utterances": int(pc.sum(pc.equal(manifest["corpus"], c)).as_py())}
            for c, r in zip(cfg.corpora, cfg.roots, strict=True)
        },
        "config": cfg.output_config(),
        "extractors": {
            e.name: {**e.fingerprint(), **e.describe(), "failed": failed.get(e.name, 0),
                     "status": _status_counts(statuses, e.name),
                     "reused_from": reused.get(e.name)}
            for e in p.extractors
        },
        "counts": {
            "utterances": manifest.num_rows,
            "shards": p.n_shards,
            "errors": errors.num_rows,
            "errors_by_stage": failed,
            "by_split": _counts(manifest, "split"),
            "by_label": _counts(manifest, "label"),
            "by_corpus_label": _corpus_label_counts(manifest),
            "unlabeled": _unlabeled(manifest),
            "problems_by_type": _counts(p.problems, "error_type"),
            "reconciliation": p.reconciliation,
        },
        "views": _views(store, p),
        "provenance": p.inputs,
        "run": {**stats, "wall_seconds": round(time.perf_counter() - t0, 3)},
        "files": files,
    }
    store.write_card(card)  # the card goes last: its presence marks the version complete
    return card


def _views(store: Store, p: Plan) -> dict[str, Any]:
    srcs = words.sources(p.extractors)
    if not srcs:
        return {}
    rows = sum(store.read_table(words.words_part(s)).num_rows for s in range(p.n_shards))
    return {words.UNIT: {"table": f"{words.UNIT}/part-*.parquet", "rows": rows,
                         "sources": {s.extractor: list(s.frames) for s in srcs},
                         "rule": "mean of the frames whose centre lies in [start, end); "
                                 "the nearest frame for shorter words"}}


def _status_counts(statuses: pa.Table, name: str) -> dict[str, int]:
    return _counts(statuses.filter(pc.equal(statuses["extractor"], name)), "status")


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
    out: dict[str, int] = defaultdict(int)
    for v in table[column].to_pylist():
        out["null" if v is None else v] += 1
    return dict(sorted(out.items()))
