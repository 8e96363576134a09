"""Where every file of a dataset version lives: the one place its paths and globs are spelled.
Writers (the engine) and readers (read, loaders, report, summary) both ask `LAYOUT`.

OUT/<name>/<version>/
  dataset.json                          the card (schemas/card.py): version, provenance, counts
  utterances.parquet                    manifest + labels (schemas.MANIFEST_SCHEMA)
  errors.parquet                        what failed and why (schemas.ERROR_SCHEMA)
  ratings.parquet                       per-rater labels, where the corpus publishes them
  cues.parquet                          the cues view: delivery as text (prompt_text), binned
                                        against each speaker's own baseline
  cues_words.parquet                    the cues of each ASR word (etl/cue_words.py)
  shards/shard-NNNNNN.tar               base WebDataset shard: <utt_id>.json (labels and meta)
  shards/<extractor>/shard-NNNNNN.tar   the extractor's arrays, same keys in the same order
  features/<extractor>/part-NNNNNN.parquet   one row per utterance with features, by utt_id
  status/<extractor>/part-NNNNNN.parquet     one row per utterance: ok | skipped | failed
  <view>/part-NNNNNN.parquet            a derived view (words: one row per ASR word)

Shard N of every group holds the same utterances (Lhotse Shar's layout), so adding an extractor
adds files and never rewrites existing ones. A unit (the base, an extractor, a view) of shard N
is complete when its last file exists: the base tar, the extractor's status part, the view part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class UnsafeDatasetPath(ValueError):
    """A relative path (from a card, which may come from elsewhere) that leaves the dataset."""


def check_rel(rel: str) -> str:
    """`rel` if it names a place inside a dataset version, else UnsafeDatasetPath: a card is
    data from elsewhere too, and no entry of it may make a reader open `../..` or `/etc`."""
    parts = rel.split("/")
    if (not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel or "://" in rel
            or any(p in ("", ".", "..") for p in parts)):
        raise UnsafeDatasetPath(f"{rel!r}: not a relative path inside the dataset")
    return rel


@dataclass(frozen=True)
class Layout:
    card: str = "dataset.json"
    utterances: str = "utterances.parquet"
    errors: str = "errors.parquet"
    ratings: str = "ratings.parquet"
    cues: str = "cues.parquet"  # the cues view: one row per utterance (etl/cues.py)
    cues_words: str = "cues_words.parquet"  # its word-level cues: one row per ASR word
    manifest_problems: str = "manifest_problems.parquet"  # `mer-etl manifest` only
    base: str = "base"  # the unit name of the base shards

    # -- one shard's files -------------------------------------------------------------
    def base_tar(self, shard: int) -> str:
        return f"shards/shard-{shard:06d}.tar"

    def extractor_tar(self, extractor: str, shard: int) -> str:
        return f"shards/{extractor}/shard-{shard:06d}.tar"

    def feature_part(self, extractor: str, shard: int) -> str:
        return f"features/{extractor}/part-{shard:06d}.parquet"

    def status_part(self, extractor: str, shard: int) -> str:
        """Written last for an extractor's shard: its presence means the unit is complete."""
        return f"status/{extractor}/part-{shard:06d}.parquet"

    def view_part(self, view: str, shard: int) -> str:
        return f"{view}/part-{shard:06d}.parquet"

    def unit_marker(self, unit: str, shard: int) -> str:
        return self.base_tar(shard) if unit == self.base else self.status_part(unit, shard)

    # -- globs and selections over a version's file list ---------------------------------
    def feature_glob(self, extractor: str) -> str:
        return f"features/{extractor}/part-*.parquet"

    def status_glob(self) -> str:
        return "status/*/part-*.parquet"

    def view_glob(self, view: str) -> str:
        return f"{view}/part-*.parquet"

    def base_tars(self, files: list[str]) -> list[str]:
        return sorted(f for f in files if _BASE_TAR.match(f))

    def extractor_tars(self, extractor: str, files: list[str]) -> list[str]:
        return sorted(f for f in files if f.startswith(f"shards/{extractor}/"))

    def feature_parts(self, extractor: str, files: list[str]) -> list[str]:
        return sorted(f for f in files if f.startswith(f"features/{extractor}/"))

    def status_parts(self, files: list[str]) -> list[str]:
        return sorted(f for f in files if f.startswith("status/"))

    def unit_files(self, unit: str, files: list[str]) -> list[str]:
        """The files of one unit (the base, an extractor, a view) among a version's files."""
        if unit == self.base:
            return self.base_tars(files)
        prefixes = (f"features/{unit}/", f"status/{unit}/", f"shards/{unit}/", f"{unit}/")
        return [f for f in files if f.startswith(prefixes)]


_BASE_TAR = re.compile(r"^shards/shard-\d{6}\.tar$")
LAYOUT = Layout()
