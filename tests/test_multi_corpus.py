"""Several corpora in one run: one dataset whose labels are comparable across corpora."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mer_etl.cli import _pair_roots
from mer_etl.pipeline import RunConfig, run
from mer_etl.read import iter_samples
from mer_etl.schemas.labels import load_label_schema
from tests import corpora

CORPORA = ["iemocap", "meld", "cremad", "mosei"]


@pytest.fixture(scope="module")
def multi_run(tmp_path_factory, ray_local):
    base = tmp_path_factory.mktemp("multi")
    roots = [str(getattr(corpora, f"make_{c}")(base / c)) for c in CORPORA]
    cfg = RunConfig(corpora=CORPORA, roots=roots, out=str(base / "out"), shard_size=4)
    return run(cfg)


def test_one_dataset_with_every_corpus(multi_run):
    card = multi_run.card
    assert card["name"] == "iemocap+meld+cremad+mosei"
    assert {c: v["utterances"] for c, v in card["corpora"].items()} == {
        "iemocap": 5, "meld": 5, "cremad": 4, "mosei": 3}
    by = card["counts"]["by_corpus_label"]
    assert by["iemocap"] == {"angry": 1, "excited": 1, "frustrated": 1, "neutral": 1, "null": 1}
    assert by["meld"] == {"angry": 1, "neutral": 1, "sad": 1, "surprised": 2}
    assert by["mosei"] == {"happy": 1, "null": 2}
    assert {(u["corpus"], u["label_native"], u["label_status"]): u["utterances"]
            for u in card["counts"]["unlabeled"]} == {
        ("iemocap", "xxx", "no_agreement"): 1, ("mosei", None, "no_agreement"): 1,
        ("mosei", None, "unlabeled"): 1}
    problems = card["counts"]["problems_by_type"]
    assert problems["LabelWithoutMedia"] == 4 and problems["MediaWithoutLabel"] == 3
    # agreement per corpus and presentation: CREMA-D's vote counts, IEMOCAP's raters
    agree = {(a["corpus"], a["presentation"], a["source"]): a
             for a in card["counts"]["agreement"]}
    assert {k for k in agree if k[0] == "cremad"} == {  # the fixture has no face-only votes
        ("cremad", m, "vote counts") for m in ("audio", "audiovisual")}
    assert agree["cremad", "audio", "vote counts"]["votes"] > 0
    assert any(k[0] == "iemocap" and k[2] == "ratings" for k in agree)


def test_labels_are_comparable_across_corpora(multi_run):
    utts = pl.read_parquet(Path(multi_run.path) / "utterances.parquet")
    labels = load_label_schema()
    view = utts.with_columns(
        pl.col("label").map_elements(lambda c: labels.view("iemocap4", c),
                                     return_dtype=pl.String).alias("iemocap4"))
    angry = view.filter(pl.col("iemocap4") == "angry")["corpus"].sort().to_list()
    assert angry == ["cremad", "iemocap", "meld"]
    assert set(view.filter(pl.col("iemocap4") == "happy")["label"]) == {"happy", "excited"}


def test_segments_are_cut_from_long_media(multi_run):
    """MOSEI segments are spans of a 3 s file; the decoded audio is the span, not the file."""
    samples = {s["__key__"]: s for s in iter_samples(multi_run.path)}
    assert len(samples) == 17
    duration = {k: s["egemaps.status.json"]["duration_s"] for k, s in samples.items()}
    assert duration["mosei_vidA_1_0"] == pytest.approx(1.2, abs=0.01)
    assert duration["mosei_vidA_1_1"] == pytest.approx(1.0, abs=0.01)
    assert duration["mosei_-3g5yACwYnA_r0"] == pytest.approx(1.0, abs=0.01)
    # Every clip decoded, whatever its container (WAV, MP4, FLV-paired WAV).
    assert all(s["egemaps.status.json"]["status"] == "ok" for s in samples.values())
    assert samples["meld_train_dia0_utt4"]["egemaps.functionals.npy"].shape == (88,)


def test_cli_root_pairing():
    assert _pair_roots(["a", "b"], ["b=/y", "a=/x"]) == (["a", "b"], ["/x", "/y"])
    assert _pair_roots(["a", "b"], ["/x", "s3://bucket/y"]) == (["a", "b"], ["/x", "s3://bucket/y"])
    with pytest.raises(ValueError, match="2 corpora need 2 roots, got 1"):
        _pair_roots(["a", "b"], ["/x"])
    with pytest.raises(ValueError, match=r"no root for \['b'\]"):
        _pair_roots(["a", "b"], ["a=/x"])


def test_cross_corpus_loader_and_class_weights(multi_run):
    from mer_etl.loaders import cross_corpus, view_classes

    train, test, weights = cross_corpus(multi_run.path, train=["iemocap", "meld"],
                                        test=["cremad"], label_view="iemocap4",
                                        extractors=["egemaps"], fields=["egemaps.functionals"])
    classes = view_classes("iemocap4")
    assert classes == ["neutral", "happy", "angry", "sad"]
    got = [(lab["corpus"], classes[lab["label"]]) for _, lab in train]
    assert sorted(got) == [("iemocap", "angry"), ("iemocap", "happy"), ("iemocap", "neutral"),
                           ("meld", "angry"), ("meld", "neutral"), ("meld", "sad")]
    assert sorted(classes[lab["label"]] for _, lab in test) == ["angry", "happy", "neutral",
                                                                "sad"]
    assert {lab["corpus"] for _, lab in test} == {"cremad"}
    assert weights.tolist() == [0.75, 1.5, 0.75, 1.5]
    with pytest.raises(ValueError, match="both in train and test"):
        cross_corpus(multi_run.path, train=["meld"], test=["meld"])
