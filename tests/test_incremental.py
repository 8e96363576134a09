"""Adding or reconfiguring an extractor computes only what changed; existing files stay put."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mer_etl.jobs import custom
from mer_etl.pipeline import RunConfig, run
from mer_etl.read import iter_samples
from mer_etl.store import Store, verify
from tests.media import write_wav


def snapshot(path: str) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size)
            for p in Path(path).rglob("*") if p.is_file()}


def sha(card: dict, prefix: str) -> dict[str, str]:
    return {k: v["sha256"] for k, v in card["files"].items() if k.startswith(prefix)}


@pytest.fixture
def table_corpus(tmp_path):
    root = tmp_path / "corpus"
    for i in range(5):
        write_wav(root / f"u{i}.wav", 0.6 + 0.1 * i, 16_000, freq=150 + 40 * i)
    (root / "t.csv").write_text("file,emo\n" + "".join(f"u{i}.wav,{'ab'[i % 2]}\n"
                                                      for i in range(5)))
    return root


def config(root: Path, out: Path, labels: dict, extractors: list[str]) -> RunConfig:
    spec = custom.load_job(None, corpus="mine", manifest=str(root / "t.csv"),
                           columns={"media": "file", "label": "emo"}, labels=labels)
    return RunConfig(corpora=["mine"], roots=[str(root)], out=str(out), shard_size=2,
                     extractors=extractors, adapters={"mine": custom.make_adapter(spec)})


def test_add_reconfigure_relabel(table_corpus, tmp_path, ray_local):
    out = tmp_path / "out"
    labels = {"a": "angry", "b": "sad"}
    first = run(config(table_corpus, out, labels, ["egemaps"]))
    assert first.card["run"]["computed"] == ["egemaps"] and first.card["parent"] is None
    before = snapshot(first.path)

    # Adding an extractor runs only that extractor.
    second = run(config(table_corpus, out, labels, ["egemaps", "audio_stats"]))
    card = second.card
    assert card["run"]["computed"] == ["audio_stats"]
    assert set(card["run"]["stage_seconds"]) == {"decode", "audio_stats"}  # egemaps never ran
    assert card["run"]["reused"] == {"base": first.version, "egemaps": first.version}
    assert card["parent"] == first.version
    assert card["extractors"]["egemaps"]["reused_from"] == first.version
    assert sha(card, "features/egemaps/") == sha(first.card, "features/egemaps/")
    assert sha(card, "shards/egemaps/") == sha(first.card, "shards/egemaps/")
    assert sha(card, "shards/shard-") == sha(first.card, "shards/shard-")
    assert snapshot(first.path) == before  # the earlier version is untouched
    assert verify(Store(first.path)) == [] and verify(Store(second.path)) == []
    assert len(list(iter_samples(second.path))) == 5

    # Changing one extractor's config recomputes that extractor only.
    cfg = config(table_corpus, out, labels, ["egemaps", "audio_stats"])
    third = run(dataclasses.replace(cfg, extractor_config={"egemaps": {"lld": False}}))
    assert third.card["run"]["computed"] == ["egemaps"]
    # The newest complete version donates each unit it has.
    assert third.card["run"]["reused"] == {"base": second.version, "audio_stats": second.version}
    assert third.card["parent"] == second.version
    assert sha(third.card, "features/egemaps/") != sha(first.card, "features/egemaps/")

    # Changing the labels recomputes no features at all.
    fourth = run(config(table_corpus, out, {"a": "happy", "b": "sad"},
                        ["egemaps", "audio_stats"]))
    assert fourth.card["run"]["computed"] == []
    assert "stage_seconds" not in fourth.card["run"] or not fourth.card["run"]["stage_seconds"]
    assert set(fourth.card["run"]["reused"]) == {"egemaps", "audio_stats"}
    assert sha(fourth.card, "shards/shard-") != sha(first.card, "shards/shard-")
    assert fourth.card["counts"]["by_label"] == {"happy": 3, "sad": 2}
    assert len({first.version, second.version, third.version, fourth.version}) == 4


def test_a_changed_donor_file_is_not_reused(table_corpus, tmp_path, ray_local):
    out = tmp_path / "out"
    labels = {"a": "angry", "b": "sad"}
    first = run(config(table_corpus, out, labels, ["egemaps"]))
    part = Path(first.path) / "features" / "egemaps" / "part-000000.parquet"
    part.write_bytes(part.read_bytes()[:-1] + b"\x00")  # damaged after it was written
    second = run(config(table_corpus, out, labels, ["egemaps", "audio_stats"]))
    assert second.card["run"]["computed"] == ["egemaps", "audio_stats"]
    assert "egemaps" not in second.card["run"]["reused"]


def test_skipped_failed_and_ok_are_told_apart(tmp_path, ray_local):
    root = tmp_path / "c"
    write_wav(root / "ok.wav", 0.5, 16_000)
    write_wav(root / "tiny.wav", 0.01, 16_000)  # shorter than one audio_stats frame
    (root / "bad.wav").write_bytes(b"RIFF")
    (root / "t.csv").write_text("file\nok.wav\ntiny.wav\nbad.wav\n")
    spec = custom.load_job(None, corpus="c", manifest=str(root / "t.csv"),
                           columns={"media": "file"})
    cfg = RunConfig(corpora=["c"], roots=[str(root)], out=str(tmp_path / "out"),
                    extractors=["audio_stats"], adapters={"c": custom.make_adapter(spec)})
    result = run(cfg)
    from mer_etl.read import status

    rows = {r["utt_id"]: r for r in status(result.path).to_dicts()}
    assert rows["c_ok"]["status"] == "ok"
    assert (rows["c_tiny"]["status"], rows["c_tiny"]["stage"]) == ("skipped", "extract")
    assert rows["c_tiny"]["reason"].startswith("too short")
    assert (rows["c_bad"]["status"], rows["c_bad"]["stage"]) == ("failed", "decode")
    assert result.card["extractors"]["audio_stats"]["status"] == {"failed": 1, "ok": 1,
                                                                 "skipped": 1}
