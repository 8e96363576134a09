"""Make a dataset version: plan it (etl.plan), reuse the units earlier versions already hold,
resume what a killed run left, compute the rest on Ray (etl.runner), then write the card
(etl.card). The pieces each have their module; this one only sequences them."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from mer_etl import card as cards
from mer_etl import runner
from mer_etl.layout import LAYOUT, UnsafeDatasetPath
from mer_etl.media.fs import sha256_bytes
from mer_etl.plan import Placement, Plan, RunConfig, plan

log = logging.getLogger("mer_etl")

__all__ = ["RunConfig", "RunResult", "execute", "plan", "run"]


@dataclass
class RunResult:
    path: str
    version: str
    up_to_date: bool
    card: dict[str, Any]
    seconds: float


def run(cfg: RunConfig) -> RunResult:
    t0 = time.perf_counter()
    return execute(plan(cfg), cfg.placement(), t0)


def execute(p: Plan, placement: Placement, t0: float | None = None) -> RunResult:
    """Produce the planned version: reuse what earlier versions have, resume what a killed
    run left, compute the rest, then write the card."""
    t0 = time.perf_counter() if t0 is None else t0
    store = p.store
    if store.exists(LAYOUT.card):
        log.info("up to date: %s already holds version %s; nothing written", store.uri, p.version)
        return RunResult(store.uri, p.version, True, store.read_card(), time.perf_counter() - t0)
    if stale := store.remove_stale_temporaries():
        log.info("removed %d partial file(s) a killed run left in %s", stale, store.uri)
    reused = _reuse(p)
    compute = [ex for ex in p.extractors if ex.name not in reused]
    units = ([] if LAYOUT.base in reused else [LAYOUT.base]) + [ex.name for ex in compute]
    todo = {u: [s for s in range(p.n_shards) if not store.exists(LAYOUT.unit_marker(u, s))]
            for u in units}
    left = {s for ss in todo.values() for s in ss}
    if left and len(left) < p.n_shards:
        log.info("resuming %s: %d of %d shards left", store.uri, len(left), p.n_shards)
    stats = runner.execute(p, placement, todo)
    stats["computed"] = [ex.name for ex in compute]
    stats["reused"] = reused
    card = cards.write(p, stats, t0)
    return RunResult(store.uri, p.version, False, card, time.perf_counter() - t0)


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
            files = LAYOUT.unit_files(unit, sorted(card["files"]))
            if not files:  # a dataset-wide view (cues) is rebuilt, never copied
                continue
            for rel in files:
                try:
                    data = donor.read_bytes(rel)
                except UnsafeDatasetPath as exc:  # a donor card naming ../ is never followed
                    log.warning("not reusing %s from %s: %s", unit, donor.uri, exc)
                    break
                if sha256_bytes(data) != card["files"][rel]["sha256"]:
                    log.warning("not reusing %s from %s: %s changed since it was written",
                                unit, donor.uri, rel)
                    break
                p.store.write_bytes(rel, data)
            else:
                reused[unit] = card["version"]
                log.info("reused %s from version %s (%d files)", unit, card["version"], len(files))
    return reused
