"""What a run will produce, known before any media is decoded: the manifest, the extractors,
the content key of every unit and the dataset version that hashes them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mer_etl import cues, extractors, jobs, words
from mer_etl import version as versioning
from mer_etl.layout import LAYOUT
from mer_etl.media.audio import DECODER
from mer_etl.schemas.labels import load_label_schema
from mer_etl.store import Store

# What extractor outputs depend on in the manifest: media and spans, never labels, so a new
# label schema or a relabelled corpus recomputes no features.
MEDIA_COLUMNS = ["utt_id", "audio_uri", "audio_sha256", "start", "end",
                 "video_uri", "video_sha256", "video_start", "video_end", "video_region"]
DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class Placement:
    """Where and how the work runs; none of it changes an output byte, so none is hashed."""

    device: str = "cpu"
    num_cpus: int | None = None
    ray_address: str | None = None
    batch_size: int = 4


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
        return {"shard_size": self.shard_size, "max_seconds": self.max_seconds,
                "decoder": DECODER}

    def placement(self) -> Placement:
        return Placement(self.device, self.num_cpus, self.ray_address, self.batch_size)


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
    corpora: dict[str, str]  # corpus -> root, in the order asked
    # found vs publisher counts per corpus, subset and split (jobs/reconcile.py)
    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    ratings: pa.Table | None = None  # per-annotator ratings (RATINGS_SCHEMA), where published

    @property
    def units(self) -> dict[str, str]:
        """Content key of each unit (the base shards, each extractor's outputs, each view)."""
        return self.inputs["units"]

    @property
    def config(self) -> dict[str, Any]:
        """The output settings (RunConfig.output_config), as hashed."""
        return self.inputs["config"]

    @property
    def n_shards(self) -> int:
        size = self.config["shard_size"]
        return (self.manifest.num_rows + size - 1) // size

    def rows(self, shards: list[int]) -> pa.Table:
        """The manifest rows of the given shards, with their shard number."""
        size = self.config["shard_size"]
        work = self.manifest.append_column(
            "shard", pa.array([i // size for i in range(self.manifest.num_rows)], pa.int64()))
        return work.filter(pc.is_in(work["shard"], pa.array(shards, pa.int64())))

    def views(self) -> list[words.Source]:
        """The frame sources of the word view, when this plan has one."""
        return words.sources(self.extractors)


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
    # only the taxonomy, the views and these corpora's own label sections (schemas/labels.py)
    label_schema = labels.digest(cfg.corpora)
    media = versioning.table_digest(manifest.select(MEDIA_COLUMNS))
    output = cfg.output_config()
    base = {"format": versioning.FORMAT_VERSION, "manifest": versioning.table_digest(manifest),
            "shard_size": cfg.shard_size, "labels": label_schema}
    if ratings.num_rows:  # the raters' labels are inputs too
        base["ratings"] = versioning.table_digest(ratings)
    units = {LAYOUT.base: versioning.digest(base)}
    for ex in exs:
        units[ex.name] = versioning.digest({"format": versioning.FORMAT_VERSION, "media": media,
                                            "config": output, "extractor": ex.fingerprint()})
    if words.sources(exs):  # the word-aligned view is a unit of its own
        units[words.UNIT] = words.unit_key(units, exs)
    if cues.applies(exs):  # so is the cues view
        units[cues.UNIT] = cues.unit_key(units, exs)
    inputs = versioning.version_inputs(manifest, output, [e.fingerprint() for e in exs],
                                       label_schema)
    inputs["units"] = units
    version = versioning.dataset_version(inputs)
    name = cfg.name or "+".join(cfg.corpora)
    if not DATASET_NAME_RE.match(name):
        raise ValueError(f"dataset name {name!r}: expected letters, digits and _ . + - only, "
                         "so the output stays inside --out")
    store = Store(f"{cfg.out.rstrip('/')}/{name}/{version}")
    return Plan(manifest, problems, exs, inputs, version, name, store,
                dict(zip(cfg.corpora, cfg.roots, strict=True)), reconciliation, ratings)


class PlanError(RuntimeError):
    """A written version cannot be planned again as it is (changed extractor, say)."""


def plan_from_card(store: Store, device: str = "cpu") -> Plan:
    """The plan a written version was made from, rebuilt from its card and tables, for modes
    that work on an existing version (retry; later: add a view, rebuild a card). The
    extractors must still give the fingerprints the version hashed."""
    card = store.read_card()
    exs = []
    for name, recorded in card["extractors"].items():
        ex = extractors.build(name, device=device, **recorded["config"])
        now = ex.fingerprint()
        then = {k: recorded[k] for k in ("name", "version", "config", "models")}
        if now != then:
            raise PlanError(f"{name}: this install gives {now['version']} / {now['models']}, "
                            f"the dataset was made with {then['version']} / {then['models']}; "
                            "run `mer-etl run` to make a new version instead")
        exs.append(ex)
    errors = store.read_table(LAYOUT.errors)
    ratings = (store.read_table(LAYOUT.ratings) if store.exists(LAYOUT.ratings) else None)
    return Plan(manifest=store.read_table(LAYOUT.utterances),
                problems=errors.filter(pc.equal(errors["stage"], "manifest")),
                extractors=exs, inputs=card["provenance"], version=card["version"],
                name=card["name"], store=store,
                corpora={c: v["root"] for c, v in card["corpora"].items()},
                reconciliation=card["counts"].get("reconciliation", []), ratings=ratings)
