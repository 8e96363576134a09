"""Reprocess just the failed utterances of a dataset version (transient failures: a file that
was briefly unavailable, a worker that ran out of memory).

The version's inputs have not changed, so the version id stays; the shards with a failure are
recomputed for the extractors that failed there, then errors.parquet and the card are rewritten.
Media whose bytes differ from the manifest's sha256 are refused: that is a new version, made by
`mer-etl run`.
"""

from __future__ import annotations

import logging
import time

import fsspec
import pyarrow.compute as pc

from mer_etl import card as cards
from mer_etl import runner
from mer_etl.layout import LAYOUT
from mer_etl.media.fs import sha256_file
from mer_etl.pipeline import RunResult
from mer_etl.plan import Placement, Plan, PlanError, plan_from_card
from mer_etl.store import resolve_dataset

log = logging.getLogger("mer_etl")


class RetryError(PlanError):
    """The dataset cannot be retried as it is (changed extractor or media)."""


def _failed_units(p: Plan) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for ex in p.extractors:
        for shard in range(p.n_shards):
            rel = LAYOUT.status_part(ex.name, shard)
            if not p.store.exists(rel):
                out.setdefault(ex.name, []).append(shard)  # a retry killed half-way
                continue
            status = p.store.read_table(rel)["status"]
            if pc.any(pc.equal(status, "failed")).as_py():
                out.setdefault(ex.name, []).append(shard)
    return out


def _check_media(p: Plan, shards: list[int]) -> None:
    rows = p.rows(shards).select(["audio_uri", "audio_sha256", "video_uri",
                                  "video_sha256"]).to_pylist()
    media = {(r[f"{m}_uri"], r[f"{m}_sha256"]) for r in rows for m in ("audio", "video")}
    for uri, sha in sorted(media, key=str):
        if uri is None:
            continue
        fs, path = fsspec.core.url_to_fs(uri)
        try:
            now = sha256_file(fs, path)
        except OSError:
            continue  # still unavailable: it will fail again and stay recorded
        if now != sha:
            raise RetryError(f"{uri}: its bytes changed since the run (sha256 {now[:12]}…, "
                             f"manifest {(sha or '')[:12]}…); run `mer-etl run` to make "
                             "a new version")


def retry_errors(path: str, num_cpus: int | None = None, ray_address: str | None = None,
                 device: str = "cpu") -> RunResult:
    t0 = time.perf_counter()
    store = resolve_dataset(path)
    try:
        p = plan_from_card(store, device)
    except PlanError as exc:
        raise RetryError(str(exc)) from None
    card = store.read_card()
    failed = _failed_units(p)
    if not failed:
        log.info("%s: no failed utterances to retry", store.uri)
        return RunResult(store.uri, p.version, True, card, time.perf_counter() - t0)
    _check_media(p, sorted({s for ss in failed.values() for s in ss}))
    stats = runner.execute(p, Placement(device, num_cpus, ray_address), failed)
    stats.update(computed=[], reused=card["run"].get("reused", {}),
                 retried={name: ss for name, ss in failed.items()},
                 retries=card["run"].get("retries", 0) + 1)
    new_card = cards.write(p, stats, t0)
    return RunResult(store.uri, p.version, False, new_card, time.perf_counter() - t0)
