"""The uniform label schema: canonical taxonomy, label views and per-corpus label maps.

All decisions live in `schemas/labels/v<N>.toml`; this module only loads, checks and applies
them, so a reviewer reads one data file to know how every native label is mapped.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_VERSION = "v1"
# Keys of a corpus section that describe the corpus and change no label: not hashed into
# dataset versions, so correcting a title or a licence note re-versions nothing.
DESCRIPTIVE = frozenset({"title", "source", "modality", "license"})


class UnknownLabelError(ValueError):
    """A native label code that the corpus's label map does not define."""


@dataclass(frozen=True)
class MappedLabel:
    native: str
    native_name: str
    canonical: str | None
    status: str
    compound: tuple[str, ...] | None = None  # two basic classes, for a compound expression


@dataclass(frozen=True)
class LabelSchema:
    version: str
    classes: tuple[str, ...]
    statuses: tuple[str, ...]
    views: dict[str, dict[str, str]]  # view -> canonical -> view label
    corpora: dict[str, dict[str, Any]]
    sha256: str  # of the whole file (provenance)
    common_sha256: str = ""  # of what every corpus shares: version, taxonomy, views, synonyms
    synonyms: dict[str, str] | None = None  # open-vocabulary word -> canonical class

    def normalise(self, word: str) -> str | None:
        """The canonical class of an open-vocabulary emotion word, or None."""
        return (self.synonyms or {}).get(word.strip().lower())

    def normalise_all(self, words: list[str]) -> list[str]:
        """The canonical classes of open-vocabulary words, in order, once each."""
        return list(dict.fromkeys(c for c in map(self.normalise, words) if c))

    def corpus(self, corpus: str) -> dict[str, Any]:
        try:
            return self.corpora[corpus]
        except KeyError:
            raise KeyError(
                f"label schema {self.version} has no corpus {corpus!r}; "
                f"known: {', '.join(sorted(self.corpora))}"
            ) from None

    def with_corpus(self, corpus: str, section: dict[str, Any]) -> LabelSchema:
        """This schema plus one corpus's section (a custom corpus's job file brings its own),
        checked like the file's: every mapping goes through the same `map_label`."""
        _check({"taxonomy": {"classes": list(self.classes), "statuses": list(self.statuses)},
                "corpora": {corpus: section}}, f"the label map of {corpus}")
        return replace(self, corpora={**self.corpora, corpus: section})

    def digest(self, corpora: list[str]) -> dict[str, Any]:
        """What a dataset's labels depend on: the schema version, the taxonomy, the views and
        the sections of its own corpora. Another corpus's section is not in it, so adding or
        correcting one corpus's map re-versions only the datasets that contain that corpus."""
        sections = {c: _sha({k: v for k, v in self.corpora[c].items() if k not in DESCRIPTIVE})
                    for c in sorted(set(corpora)) if c in self.corpora}
        scoped = {"common": self.common_sha256, "corpora": sections}
        return {"version": self.version, "sha256": _sha(scoped), "corpora": sections}

    def map_label(self, corpus: str, code: str, table: str = "labels") -> MappedLabel:
        """Map one native code to the canonical class (or a status such as no_agreement)."""
        entries = self.corpus(corpus).get(table, {})
        entry = entries.get(code)
        if entry is None:
            valid = ", ".join(sorted(entries))
            raise UnknownLabelError(
                f"{corpus}: unknown {table[:-1]} code {code!r}; valid codes: {valid}"
            )
        return MappedLabel(
            native=code,
            native_name=entry["native"],
            canonical=entry.get("canonical"),
            status=entry.get("status", "labeled"),
            compound=tuple(entry["compound"]) if entry.get("compound") else None,
        )

    def view(self, name: str, canonical: str | None) -> str | None:
        """The label of `canonical` in a named view; null when the view does not cover it."""
        try:
            table = self.views[name]
        except KeyError:
            raise KeyError(f"unknown label view {name!r}; known: {', '.join(self.views)}") from None
        return None if canonical is None else table.get(canonical)

    def dimension_range(self, corpus: str, dim: str) -> tuple[float, float]:
        lo, hi = self.corpus(corpus)["dimensions"][dim]
        return float(lo), float(hi)


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False)
                          .encode("utf-8")).hexdigest()


def rescale(value: float | None, lo: float, hi: float) -> float | None:
    """Linear map of [lo, hi] onto [-1, 1]; None stays None (missing is null, not a sentinel)."""
    if value is None:
        return None
    return 2.0 * (float(value) - lo) / (hi - lo) - 1.0


def _check(raw: dict[str, Any], name: str) -> None:
    classes = set(raw["taxonomy"]["classes"])
    statuses = set(raw["taxonomy"]["statuses"])
    for view, groups in raw.get("views", {}).items():
        for label, members in groups.items():
            bad = set(members) - classes
            if bad:
                raise ValueError(f"{name}: view {view}.{label} names unknown classes {sorted(bad)}")
    for word, canonical in raw.get("synonyms", {}).items():
        if word != word.strip().lower() or canonical not in classes:
            raise ValueError(f"{name}: synonyms.{word}: expected a lower-case word -> a "
                             f"canonical class, got {canonical!r}")
    for corpus, spec in raw.get("corpora", {}).items():
        for table in ("labels", "votes"):
            for code, entry in spec.get(table, {}).items():
                where = f"{name}: corpora.{corpus}.{table}.{code}"
                canonical, status = entry.get("canonical"), entry.get("status", "labeled")
                compound = entry.get("compound")
                if status not in statuses:
                    raise ValueError(f"{where}: unknown status {status!r}")
                if compound is not None and (not isinstance(compound, list)
                                             or len(set(compound)) != 2
                                             or not set(compound) <= classes):
                    raise ValueError(f"{where}: a compound is two different canonical "
                                     f"classes, got {compound!r}")
                if canonical is None and compound is None and status == "labeled":
                    raise ValueError(f"{where}: a labeled entry needs a canonical class (or a "
                                     "compound of two)")
                if canonical is not None and canonical not in classes:
                    raise ValueError(f"{where}: {canonical!r} is not a canonical class")


@cache
def load_label_schema(version: str = DEFAULT_VERSION) -> LabelSchema:
    """Load and check a label schema version shipped in `schemas/labels/`."""
    name = f"{version}.toml"
    data = resources.files("mer_etl.schemas").joinpath("labels", name).read_bytes()
    return parse_label_schema(data, name)


def parse_label_schema(data: bytes, name: str) -> LabelSchema:
    """A label schema from the bytes of its TOML file, checked."""
    raw = tomllib.loads(data.decode("utf-8"))
    _check(raw, name)
    views = {
        view: {member: label for label, members in groups.items() for member in members}
        for view, groups in raw.get("views", {}).items()
    }
    return LabelSchema(
        version=raw["schema_version"],
        classes=tuple(raw["taxonomy"]["classes"]),
        statuses=tuple(raw["taxonomy"]["statuses"]),
        views=views,
        corpora=raw["corpora"],
        sha256=hashlib.sha256(data).hexdigest(),
        common_sha256=_sha({"schema_version": raw["schema_version"],
                            "taxonomy": raw["taxonomy"], "views": raw.get("views", {}),
                            "synonyms": raw.get("synonyms", {})}),
        synonyms=raw.get("synonyms", {}),
    )
