"""What is left when workers keep dying (out of memory, a crashing library): find the
utterances that kill them and fail those alone, by name; everything else still lands.

Ray Data's actors are restarted a bounded number of times (WORKER_RETRIES). When a stream
still fails, the utterances it owed run here as plain Ray tasks in small groups; a group whose
worker dies is split in two until the single utterance that kills its worker is found. That
utterance becomes `failed` for every extractor (stage `worker`, reason `OutOfMemory` or
`WorkerDied`); the others are processed as usual. If no utterance can be processed at all,
the run stops with one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from mer_etl.contract import WORKER, Outcome, outcome_column

log = logging.getLogger("mer_etl")

WORKER_RETRIES = 2  # restarts of a dead worker before its batch counts as a suspect
GIVE_UP_AFTER = 3  # single utterances that killed their worker before any succeeded


class NoProgressError(RuntimeError):
    """Workers die on every utterance: the run cannot make progress."""


def worker_died(exc: BaseException) -> bool:
    """Whether an exception from Ray means a worker process died (killed, out of memory)."""
    import ray.exceptions as rex

    deaths = (rex.RayActorError, rex.WorkerCrashedError, rex.OutOfMemoryError,
              rex.NodeDiedError)
    seen: BaseException | None = exc
    while seen is not None:  # Ray Data wraps the task's error in its own
        if isinstance(seen, deaths) or type(seen).__name__ in {
                "ActorDiedError", "ActorUnavailableError", "OutOfMemoryError"}:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _reason(exc: BaseException) -> str:
    """OutOfMemory where Ray's memory monitor says so; a plain kill (the kernel's OOM killer
    among the possible causes) is WorkerDied."""
    import ray.exceptions as rex

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, rex.OutOfMemoryError):
            return "OutOfMemory"
        seen = seen.__cause__ or seen.__context__
    return "WorkerDied"


def run(rows: pa.Table, specs: list[tuple[str, dict[str, Any]]], device: str,
        rates: list[int | None], group: int, max_seconds: float | None = None
        ) -> Iterator[dict[str, Any]]:
    """Processed rows for `rows` (WORK_COLUMNS), the ones that kill their worker failed."""
    import ray

    from mer_etl.stages import ExtractorStage

    gpus = 1.0 if device.startswith("cuda") else 0.0

    @ray.remote(num_gpus=gpus, max_retries=WORKER_RETRIES, retry_exceptions=False)
    def process(table: pa.Table) -> pa.Table:
        return ExtractorStage(specs, device, rates=rates, drop_audio=True,
                              max_seconds=max_seconds)(table)

    chunks = [rows.slice(i, group) for i in range(0, rows.num_rows, group)]
    futures = [process.remote(c) for c in chunks]
    state = {"ok": 0, "killed": 0}
    names = [name for name, _ in specs]
    for chunk, future in zip(chunks, futures, strict=True):
        yield from _settle(process, chunk, future, state, names)


def _settle(process: Any, chunk: pa.Table, future: Any, state: dict[str, int],
            names: list[str]) -> Iterator[dict[str, Any]]:
    import ray

    try:
        out = ray.get(future)
    except Exception as exc:
        if not worker_died(exc):
            raise
        if chunk.num_rows > 1:  # split the suspects in two and try each half
            half = chunk.num_rows // 2
            for part in (chunk.slice(0, half), chunk.slice(half)):
                yield from _settle(process, part, process.remote(part), state, names)
            return
        state["killed"] += 1
        if not state["ok"] and state["killed"] >= GIVE_UP_AFTER:
            raise NoProgressError(
                f"workers die on every utterance ({state['killed']} tried alone, each killed "
                f"its worker {WORKER_RETRIES + 1} times; {_reason(exc)}): give the workers more "
                "memory (fewer --num-cpus per node, a bigger node) or run fewer extractors "
                "at once") from None
        row = chunk.to_pylist()[0]
        log.warning("%s killed its worker %d times (%s); recorded as failed", row["utt_id"],
                    WORKER_RETRIES + 1, _reason(exc))
        died = Outcome("failed", WORKER, _reason(exc),
                       f"the worker processing this utterance died {WORKER_RETRIES + 1} times, "
                       f"also when it was processed alone ({type(exc).__name__})").as_dict()
        yield {**row, **{outcome_column(name): died for name in names}}
        return
    state["ok"] += out.num_rows
    yield from out.to_pylist()
