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
from typing import Any

import fsspec
import pyarrow.compute as pc

import extractors
from etl import words
from etl.pipeline import Plan, RunConfig, RunResult, _finish, _process, shard_rows
from etl.store import ERRORS, UTTERANCES, Store, resolve_dataset, status_part
from jobs.base import sha256_file

log = logging.getLogger("mer_etl")


class RetryError(RuntimeError):
    """The dataset cannot be retried as it is (changed extractor or media)."""


def _plan_from_card(store: Store, device: str) -> tuple[Plan, dict[str, Any]]:
    card = store.read_card()
    exs = []
    for name, recorded in card["extractors"].items():
        ex = extractors.build(name, device=device, **recorded["config"])
        now = ex.fingerprint()
        then = {k: recorded[k] for k in ("name", "version", "config", "models")}
        if now != then:
            raise RetryError(f"{name}: this install gives {now['version']} / {now['models']}, "
                             f"the dataset was made with {then['version']} / {then['models']}; "
                             "run `mer-etl run` to make a new version instead")
        exs.append(ex)
    errors = store.read_table(ERRORS)
    problems = errors.filter(pc.equal(errors["stage"], "manifest"))
    p = Plan(manifest=store.read_table(UTTERANCES), problems=problems, extractors=exs,
             inputs=card["provenance"], version=card["version"], name=card["name"], store=store,
             reconciliation=card["counts"].get("reconciliation", []))
    return p, card


def _failed_units(p: Plan) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for ex in p.extractors:
        for shard in range(p.n_shards):
            rel = status_part(ex.name, shard)
            if not p.store.exists(rel):
                out.setdefault(ex.name, []).append(shard)  # a retry killed half-way
                continue
            status = p.store.read_table(rel)["status"]
            if pc.any(pc.equal(status, "failed")).as_py():
                out.setdefault(ex.name, []).append(shard)
    return out


def _check_media(p: Plan, shards: list[int]) -> None:
    rows = shard_rows(p, shards).select(["audio_uri", "audio_sha256", "video_uri",
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
    p, card = _plan_from_card(store, device)
    failed = _failed_units(p)
    if not failed:
        log.info("%s: no failed utterances to retry", store.uri)
        return RunResult(store.uri, p.version, True, card, time.perf_counter() - t0)
    shards = sorted({s for ss in failed.values() for s in ss})
    _check_media(p, shards)
    for name, ss in failed.items():
        for shard in ss:
            if store.exists(status_part(name, shard)):
                store.fs.rm(store.full(status_part(name, shard)))  # unmark before recomputing
    cfg = RunConfig(corpora=list(card["corpora"]), roots=[c["root"] for c in
                                                          card["corpora"].values()],
                    out=store.uri.rsplit("/", 2)[0], name=card["name"],
                    extractors=list(card["extractors"]), device=device, num_cpus=num_cpus,
                    ray_address=ray_address, shard_size=card["config"]["shard_size"],
                    max_seconds=card["config"].get("max_seconds", RunConfig.max_seconds))
    exs = [ex for ex in p.extractors if ex.name in failed]
    srcs = words.sources(p.extractors)
    for shard in shards if srcs else []:  # derived from the parts being recomputed
        if store.exists(words.words_part(shard)):
            store.fs.rm(store.full(words.words_part(shard)))
    stats = _process(cfg, p, shard_rows(p, shards), exs, write_base=False)
    if srcs:
        words.write_missing(store, p.n_shards, srcs)
    stats.update(computed=[], reused=card["run"].get("reused", {}),
                 retried={name: ss for name, ss in failed.items()},
                 retries=card["run"].get("retries", 0) + 1)
    new_card = _finish(cfg, p, stats, t0)
    return RunResult(store.uri, p.version, False, new_card, time.perf_counter() - t0)
