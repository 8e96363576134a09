"""One run: manifest -> plan (version, reusable units) -> Ray Data stages -> shards -> card."""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import extractors
import jobs
from etl import quarantine, words
from etl import version as versioning
from etl.progress import progress_bar
from etl.quiet import loud, native_stderr_to_log
from etl.store import (
    BASE,
    CARD,
    ERRORS,
    RATINGS,
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
    # Longest utterance decoded, in seconds: memory grows with length (an hour at 48 kHz took
    # about 6 GiB with eGeMAPS), so longer ones fail by name instead of taking a worker down.
    max_seconds: float = 1200.0
    # Compare with the publishers' counts (off for samples such as the demo corpus, where a
    # shortfall is the point).
    reconcile: bool = True
    adapters: dict[str, jobs.Adapter] = field(default_factory=dict)  # custom corpora by name

    def output_config(self) -> dict[str, Any]:
        """The settings that change output bytes (hashed); placement settings are not."""
        return {"shard_size": self.shard_size, "max_seconds": self.max_seconds}


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
    ratings: pa.Table | None = None  # per-annotator ratings (RATINGS_SCHEMA), where published

    @property
    def units(self) -> dict[str, str]:
        """Content key of each unit (the base shards, each extractor's outputs)."""
        return self.inputs["units"]

    @property
    def n_shards(self) -> int:
        size = self.inputs["config"]["shard_size"]
        return (self.manifest.num_rows + size - 1) // size


def _manifest(cfg: RunConfig) -> tuple[pa.Table, pa.Table, list[dict[str, Any]], pa.Table]:
    tables, problems, reconciliation, ratings = [], [], [], []
    for corpus, root in zip(cfg.corpora, cfg.roots, strict=True):
        m = jobs.build_manifest(cfg.adapters.get(corpus, corpus), root, cfg.label_version)
        tables.append(m.table)
        problems.append(m.problems)
        reconciliation += m.reconciliation
        ratings.append(m.ratings)
    table = pa.concat_tables(tables).sort_by("utt_id")
    if pc.count_distinct(table["utt_id"]).as_py() != table.num_rows:
        raise jobs.CorpusError("utt_id collision across corpora: each id must be unique")
    return (table, pa.concat_tables(problems), reconciliation if cfg.reconcile else [],
            pa.concat_tables(ratings))


def plan(cfg: RunConfig) -> Plan:
    labels = load_label_schema(cfg.label_version)
    manifest, problems, reconciliation, ratings = _manifest(cfg)
    exs = [
        extractors.build(n, device=cfg.device, **cfg.extractor_config.get(n, {}))
        for n in cfg.extractors
    ]
    label_schema = {"version": labels.version, "sha256": labels.sha256}
    media = versioning.table_digest(manifest.select(MEDIA_COLUMNS))
    output = cfg.output_config()
    base = {"format": versioning.FORMAT_VERSION, "manifest": versioning.table_digest(manifest),
            "shard_size": cfg.shard_size, "labels": label_schema}
    if ratings.num_rows:  # the raters' labels are inputs too
        base["ratings"] = versioning.table_digest(ratings)
    units = {BASE: versioning.digest(base)}
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
    return Plan(manifest, problems, exs, inputs, version, name, store, reconciliation, ratings)


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
    if not loud():
        # Ray's start-up lines (token set-up, "Started a local Ray instance") are not the
        # user's business; MER_ETL_DEBUG=1 brings them back.
        kwargs["logging_level"] = logging.ERROR
    if cfg.ray_address:
        ray.init(address=cfg.ray_address, **kwargs)
    else:
        # "local": always a new local Ray, never a stale cluster `ray start` left on record.
        ray.init(address="local", num_cpus=cfg.num_cpus, **kwargs)
    return True


def _process(cfg: RunConfig, p: Plan, todo: pa.Table, exs: list[extractors.Extractor],
             write_base: bool) -> dict[str, Any]:
    import ray

    with native_stderr_to_log():
        return _process_on_ray(ray, cfg, p, todo, exs, write_base)


def _process_on_ray(ray: Any, cfg: RunConfig, p: Plan, todo: pa.Table,
                    exs: list[extractors.Extractor], write_base: bool) -> dict[str, Any]:
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
            # The first stage decodes: a separate decode task could find every CPU held by a
            # full actor pool and wait forever. The last drops the audio.
            ds = _map_stage(ds, group, cfg, rates if i == 0 else None, i == len(groups) - 1,
                            size=max_gpus if any(e.resources().num_gpus for e in group)
                            else max_actors)
        collector = _Collector(p, todo, exs, write_base)
        if not loud():
            # A stream that fails on dead workers is handled below (the quarantine); Ray
            # Data would still log it as an ERROR with a traceback.
            logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        try:
            _collect(ds, collector, todo.num_rows)
        except Exception as exc:
            if not quarantine.worker_died(exc):
                raise
            left = collector.left(work)
            log.warning("workers died repeatedly (%s); processing the %d utterances left in "
                        "small groups to find the ones that kill them", type(exc).__name__,
                        left.num_rows)
            with progress_bar(left.num_rows, "utterances, isolating worker deaths") as advance:
                for row in quarantine.run(left, [(ex.name, ex.config) for ex in exs],
                                          cfg.device, rates, cfg.batch_size, cfg.max_seconds):
                    collector.add(row)
                    advance(1)
        return collector.stats()
    finally:
        if started:
            ray.shutdown()


def _map_stage(ds: Any, group: list[extractors.Extractor], cfg: RunConfig,
               rates: list[int | None] | None, last: bool, size: int) -> Any:
    """One actor-pool stage running `group`'s extractors (one actor per CPU or per GPU)."""
    import ray

    from etl.stages import ExtractorStage

    res = [ex.resources() for ex in group]
    memory = sum(r.memory_mb or 0 for r in res)
    gpus = max(r.num_gpus for r in res)
    with warnings.catch_warnings():
        # Ray 2.60 takes max_restarts only through **ray_remote_args, which it already calls
        # deprecated without a replacement.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ds.map_batches(
            ExtractorStage,
            fn_constructor_kwargs={"specs": [(ex.name, ex.config) for ex in group],
                                   "device": cfg.device, "rates": rates, "drop_audio": last,
                                   "max_seconds": cfg.max_seconds},
            batch_format="pyarrow", batch_size=cfg.batch_size,
            # A GPU stage gets one actor per GPU the cluster has; the CPU stage one per CPU
            # from the start (an autoscaling pool stayed at one actor on small machines).
            compute=ray.data.ActorPoolStrategy(size=size),
            # A GPU stage names only its GPUs: Ray reserves one CPU per GPU map worker by
            # itself, and naming both is what it warns about as experimental.
            num_cpus=None if gpus else max(r.num_cpus for r in res), num_gpus=gpus or None,
            memory=memory * 2**20 if memory else None,
            # Ray restarts a killed actor and retries its batch forever by default: under
            # memory pressure a run would loop without end. Bounded; what is left after that
            # goes to the quarantine (etl/quarantine.py), one suspect at a time.
            max_restarts=quarantine.WORKER_RETRIES,
            max_task_retries=quarantine.WORKER_RETRIES,
        )


class _Collector:
    """Takes processed rows (from Ray Data or the quarantine) and writes each shard as soon as
    all its utterances have arrived."""

    def __init__(self, p: Plan, todo: pa.Table, exs: list[extractors.Extractor],
                 write_base: bool) -> None:
        self.p, self.exs, self.write_base = p, exs, write_base
        self.writer = ShardWriter(p.store, {r["utt_id"]: r for r in p.manifest.to_pylist()})
        self.expected: dict[int, int] = defaultdict(int)
        for s in todo["shard"].to_pylist():
            self.expected[s] += 1
        self.pending: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.written: set[int] = set()
        self.stage_s: dict[str, float] = defaultdict(float)
        self.audio_s = 0.0

    def add(self, row: dict[str, Any]) -> None:
        self.audio_s += row.get("duration_s") or 0.0
        for stage in ["decode", *(e.name for e in self.exs)] if self.exs else []:
            self.stage_s[stage] += row.get(f"{stage}_s") or 0.0
        shard = row["shard"]
        self.pending[shard].append(row)
        if len(self.pending[shard]) == self.expected[shard]:
            rows = self.pending.pop(shard)
            store = self.p.store
            if self.write_base and not store.exists(unit_marker(BASE, shard)):
                self.writer.write_base(shard, [r["utt_id"] for r in rows])
            for ex in self.exs:
                if not store.exists(status_part(ex.name, shard)):
                    self.writer.write_extractor(ex, shard, rows)
            self.written.add(shard)
            slowest = max(self.stage_s, key=self.stage_s.get) if self.stage_s else "-"
            log.info("shard %d written (%d utterances); slowest stage so far: %s",
                     shard, self.expected[shard], slowest)

    def left(self, todo: pa.Table) -> pa.Table:
        """The utterances a failed stream still owes: neither in a written shard nor waiting,
        processed, for the rest of their shard."""
        done = {r["utt_id"] for rows in self.pending.values() for r in rows}
        keep = [uid not in done and shard not in self.written for uid, shard in
                zip(todo["utt_id"].to_pylist(), todo["shard"].to_pylist(), strict=True)]
        return todo.filter(pa.array(keep, pa.bool_()))

    def stats(self) -> dict[str, Any]:
        return {"audio_seconds": self.audio_s, "stage_seconds": dict(self.stage_s)}


def _collect(ds: Any, collector: _Collector, total: int) -> None:
    """Stream results back from Ray Data into the collector."""
    with progress_bar(total, "utterances") as advance:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                collector.add(row)
                advance(1)


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
    if p.ratings is not None and p.ratings.num_rows:
        store.write_table(RATINGS, p.ratings)
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
