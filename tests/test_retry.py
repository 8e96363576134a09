"""`mer-etl retry-errors` reprocesses just what failed; the result equals a clean run."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from mer_etl.pipeline import RunConfig, execute, plan, run
from mer_etl.retry import RetryError, retry_errors
from tests.media import write_wav


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "RAVDESS"
    for emo in ("01", "03", "04", "05", "06"):
        write_wav(root / "Actor_02" / f"03-01-{emo}-01-01-01-02.wav", 0.7, 16_000)
    return root


def files(card):
    return {k: v["sha256"] for k, v in card["files"].items()}


def test_retry_after_a_file_was_briefly_missing(corpus, tmp_path, ray_local):
    cfg = RunConfig(corpora=["ravdess"], roots=[str(corpus)], out=str(tmp_path / "out"),
                    shard_size=2, extractors=["egemaps", "audio_stats"])
    clean = run(dataclasses.replace(cfg, out=str(tmp_path / "clean")))

    p = plan(cfg)  # the manifest and its hashes are taken while the file is there
    wav = corpus / "Actor_02" / "03-01-04-01-01-01-02.wav"
    shutil.move(wav, tmp_path / "away.wav")
    broken = execute(p, cfg.placement())
    assert broken.card["counts"]["errors_by_stage"] == {"decode": 1}
    assert broken.version == clean.version
    shutil.move(tmp_path / "away.wav", wav)

    fixed = retry_errors(broken.path)
    assert fixed.version == clean.version
    assert fixed.card["run"]["retried"] == {"egemaps": [1], "audio_stats": [1]}
    assert fixed.card["counts"]["errors"] == 0
    assert files(fixed.card) == files(clean.card)
    assert retry_errors(broken.path).up_to_date  # nothing left to retry


def test_retry_refuses_changed_media(corpus, tmp_path, ray_local):
    wav = corpus / "Actor_02" / "03-01-05-01-01-01-02.wav"
    good = wav.read_bytes()
    wav.write_bytes(good[:100])  # truncated: decode fails
    result = run(RunConfig(corpora=["ravdess"], roots=[str(corpus)], out=str(tmp_path / "o"),
                           shard_size=2))
    assert result.card["counts"]["errors_by_stage"] == {"decode": 1}
    wav.write_bytes(good)  # "fixed" - but that is different input, so a new version
    with pytest.raises(RetryError, match=r"bytes changed since the run"):
        retry_errors(result.path)
