"""Execute a plan on Ray: the one way every mode (run, resume, retry) computes units.

`execute(plan, placement, todo)` takes which units (the base, extractor names) to compute for
which shards, streams the shards' utterances through Ray Data actor stages, has each shard
written on a worker as soon as all its utterances are processed (etl/collect.py), then
rebuilds the derived view parts of the shards it touched. A unit already complete for a
shard it is asked for is recomputed.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import pyarrow as pa

from mer_etl import collect, cues, extractors, quarantine, words
from mer_etl import contract as c
from mer_etl.layout import LAYOUT
from mer_etl.plan import Placement, Plan
from mer_etl.progress import progress_bar
from mer_etl.quiet import loud, native_stderr_to_log

log = logging.getLogger("mer_etl")


def execute(p: Plan, placement: Placement, todo: dict[str, list[int]]) -> dict[str, Any]:
    """Compute `todo` (unit -> shards), write it, rebuild the touched view parts; returns the
    run statistics (audio seconds, seconds per stage, view parts built)."""
    todo = {unit: sorted(set(shards)) for unit, shards in todo.items() if shards}
    store = p.store
    for unit, shards in todo.items():
        for shard in shards:  # unmarked first: a unit is complete only once rewritten
            store.remove(LAYOUT.unit_marker(unit, shard))
    exs = [ex for ex in p.extractors if ex.name in todo]
    shards = sorted({s for ss in todo.values() for s in ss})
    if p.views():
        for shard in sorted({s for e in exs for s in todo[e.name]}):
            store.remove(LAYOUT.view_part(words.UNIT, shard))  # derived from what changes
    stats: dict[str, Any] = {}
    if shards:
        with native_stderr_to_log():
            stats = _on_ray(p, placement, p.rows(shards), exs, todo)
    if p.views():  # the writers build a shard's part after its units; here what is left
        stats["words_parts_built"] = (stats.get("words_parts_on_workers", 0)
                                      + words.write_missing(store, p.n_shards, p.extractors))
    if cues.UNIT in p.units:  # dataset-wide (speaker baselines): rebuilt once all shards are in
        stats["cues_rows"], stats["cues_word_rows"] = cues.write(
            store, p.manifest, p.extractors, p.n_shards)
    return stats


def _ray_init(placement: Placement) -> bool:
    """Start local Ray unless one is running or an address is given; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if not loud():
        # Ray's start-up lines (token set-up, "Started a local Ray instance") are not the
        # user's business; MER_ETL_DEBUG=1 brings them back.
        kwargs["logging_level"] = logging.ERROR
    if placement.ray_address:
        ray.init(address=placement.ray_address, **kwargs)
    else:
        # "local": always a new local Ray, never a stale cluster `ray start` left on record.
        ray.init(address="local", num_cpus=placement.num_cpus, **kwargs)
    return True


def _on_ray(p: Plan, placement: Placement, rows: pa.Table, exs: list[extractors.Extractor],
            todo: dict[str, list[int]]) -> dict[str, Any]:
    import ray

    started = _ray_init(placement)
    max_seconds = p.config.get("max_seconds")
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # our own bar below reports utterances and shards
        ctx.execution_options.preserve_order = True  # shards complete one after another
        # Ray Data samples each map task's USS (/proc/PID/smaps) every second on a thread of
        # its own in every actor, for its stats; on 2 CPUs that is CPU the extractors lose.
        ctx.memory_usage_poll_interval_s = None
        # The writers first: they import and build beside Ray Data's own start-up below.
        writers = collect.start_writers(p, placement.device)
        work = rows.select(c.WORK_COLUMNS)
        size = placement.batch_size
        # One block per batch, its metadata taken here: from_arrow would run a remote task per
        # block for it (1.8 s for 80 blocks on a fresh 2-CPU Ray, before any work starts).
        ds = ray.data.from_blocks([work.slice(i, size) for i in range(0, work.num_rows, size)])
        resources = ray.cluster_resources()
        max_actors = max(1, int(resources.get("CPU", 1)))
        max_gpus = max(1, int(resources.get("GPU", 0)))
        gpu = [ex for ex in exs if ex.resources().num_gpus]
        # CPUs the GPU actors need are kept free, or the CPU pool would starve them.
        max_actors = max(1, max_actors - int(sum(ex.resources().num_cpus for ex in gpu)
                                             * max_gpus))
        # Each sample rate the audio extractors want is decoded once, in the first stage.
        rates = list(dict.fromkeys(ex.input_rate() for ex in exs if ex.modality == "audio"))
        groups = stage_groups(exs, bool(rates))
        for i, group in enumerate(groups):
            # The first stage decodes, and it is a CPU actor pool (stage_groups): a separate
            # decode *task* could find every CPU held by a full actor pool and wait forever,
            # while actors of their own hold a CPU each. The last stage drops the audio.
            ds = _map_stage(ds, group, placement, max_seconds, rates if i == 0 else None,
                            i == len(groups) - 1,
                            size=max_gpus if any(e.resources().num_gpus for e in group)
                            else max_actors)
        collector = collect.Collector(p, rows, exs, todo, writers)
        if not loud():
            # A stream that fails on dead workers is handled below (the quarantine); Ray
            # Data would still log it as an ERROR with a traceback.
            logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        try:
            collect.collect(ds, collector, rows.num_rows)
        except Exception as exc:
            if isinstance(exc, collect.WriteFailed) or not quarantine.worker_died(exc):
                raise
            left = collector.left(work)
            log.warning("workers died repeatedly (%s); processing the %d utterances left in "
                        "small groups to find the ones that kill them", type(exc).__name__,
                        left.num_rows)
            with progress_bar(left.num_rows, "utterances, isolating worker deaths") as advance:
                for row in quarantine.run(left, [(ex.name, ex.config) for ex in exs],
                                          placement.device, rates, size, max_seconds):
                    collector.add(row)
                    advance(1)
        collector.finish()
        return collector.stats()
    finally:
        if started:
            ray.shutdown()


def stage_groups(exs: list[extractors.Extractor], decodes: bool
                 ) -> list[list[extractors.Extractor]]:
    """The actor-pool stages: every CPU extractor in one stage (first), each GPU extractor in
    its own. Decoding happens in the first stage and never in a GPU one: with GPU extractors
    only, a stage without extractors (CPU actors that only decode) goes first, so a GPU actor
    gets decoded audio and spends its time in forward passes."""
    cpu = [ex for ex in exs if not ex.resources().num_gpus]
    gpu = [[ex] for ex in exs if ex.resources().num_gpus]
    return ([cpu] if cpu or (decodes and gpu) else []) + gpu


def _map_stage(ds: Any, group: list[extractors.Extractor], placement: Placement,
               max_seconds: float | None, rates: list[int | None] | None, last: bool,
               size: int) -> Any:
    """One actor-pool stage running `group`'s extractors (one actor per CPU or per GPU)."""
    import ray

    from mer_etl.stages import ExtractorStage

    res = [ex.resources() for ex in group] or [extractors.Resources(num_cpus=1.0)]  # decode
    memory = sum(r.memory_mb or 0 for r in res)
    gpus = max(r.num_gpus for r in res)
    with warnings.catch_warnings():
        # Ray 2.60 takes max_restarts only through **ray_remote_args, which it already calls
        # deprecated without a replacement.
        warnings.simplefilter("ignore", DeprecationWarning)
        return ds.map_batches(
            ExtractorStage,
            fn_constructor_kwargs={"specs": [(ex.name, ex.config) for ex in group],
                                   "device": placement.device, "rates": rates,
                                   "drop_audio": last, "max_seconds": max_seconds},
            # at least what an extractor runs per forward pass (wav2vec on a GPU: 16)
            batch_format="pyarrow",
            batch_size=max([placement.batch_size, *(ex.batch_size() for ex in group)]),
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
