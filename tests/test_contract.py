"""The seams declared in code: the columns each stage says it reads and adds are the ones it
does, outcomes are built where the exception is caught, and the card has its declared shape."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from mer_etl import contract as c
from mer_etl import extractors
from mer_etl.schemas.card import CardError, validate_card
from mer_etl.stages import Extract, ExtractorStage
from tests.media import write_wav


def _work(rows: list[dict]) -> pa.Table:
    full = [{col: r.get(col) for col in c.WORK_COLUMNS} for r in rows]
    return pa.Table.from_pylist(full, schema=pa.schema(
        [(col, pa.int64() if col == "shard" else pa.float64()
          if col.endswith(("start", "end")) else pa.string()) for col in c.WORK_COLUMNS]))


def test_a_stage_adds_exactly_the_columns_it_declares(tmp_path):
    wav = write_wav(tmp_path / "a.wav", 0.5, 16_000)
    batch = _work([{"utt_id": "a", "audio_uri": str(wav), "shard": 0},
                   {"utt_id": "b", "audio_uri": str(tmp_path / "gone.wav"), "shard": 0},
                   {"utt_id": "c", "shard": 0}])
    stage = ExtractorStage([("audio_stats", {})], "cpu", rates=[16_000])
    out = stage(batch)
    declared = stage.columns()
    assert set(out.column_names) - set(batch.column_names) == set(declared.outputs)
    assert set(declared.inputs) <= set(batch.column_names)
    outcome = {r["utt_id"]: r[c.outcome_column("audio_stats")] for r in out.to_pylist()}
    assert outcome["a"]["status"] == "ok" and outcome["a"]["seconds"] > 0
    # the decode failure reaches the extractor as the decode's own outcome, by value
    assert (outcome["b"]["status"], outcome["b"]["stage"], outcome["b"]["reason"]) == (
        "failed", "decode", "DecodeError")
    assert "gone.wav" in outcome["b"]["message"]
    assert (outcome["c"]["status"], outcome["c"]["reason"]) == ("skipped", "no audio")


class _Picky(extractors.Extractor):
    name, version = "picky", "1"

    def schema(self) -> pa.Schema:
        return pa.schema([("utt_id", pa.string())])

    def extract(self, signal: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        if signal.size < sr:
            raise extractors.Skip("shorter than 1 s")
        if signal.size > 2 * sr:
            raise RuntimeError("too much")
        return {"n": np.array([signal.size])}

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict:
        return {}


def test_skip_and_failure_are_told_apart_where_they_are_caught():
    col = c.audio_column(16_000)
    batch = pa.table({
        col: pa.array([np.zeros(n, np.float32).tobytes() for n in (8_000, 20_000, 40_000)],
                      pa.large_binary()),
        c.rate_of(col): pa.array([16_000] * 3, pa.int32()),
        c.DECODE: c.outcomes([c.Outcome()] * 3),
    })
    step = Extract(_Picky())
    assert step.columns().inputs == [col, c.rate_of(col), c.DECODE]
    got = [(o["status"], o["stage"], o["reason"])
           for o in step(batch)[c.outcome_column("picky")].to_pylist()]
    assert got == [("skipped", "extract", "shorter than 1 s"), ("ok", None, None),
                   ("failed", "extract", "RuntimeError")]


def test_the_demo_card_has_its_declared_shape(demo_run):
    card = json.loads(Path(demo_run[1].path, "dataset.json").read_text())
    assert validate_card(card) is card
    broken = {**card, "counts": {**card["counts"], "utterances": "many"}}
    with pytest.raises(CardError, match=r"at counts/utterances: 'many' is not of type"):
        validate_card(broken)
    with pytest.raises(CardError, match=r"'files' is a required property"):
        validate_card({k: v for k, v in card.items() if k != "files"})
