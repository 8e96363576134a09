"""Training-ready loading: PyTorch, polars/pyarrow, HF datasets."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl
import pytest
import torch
from torch.utils.data import DataLoader

from mer_etl.loaders import MERDataset, class_weights, pad_collate, view_classes


def test_training_loop_sees_every_sample_once_per_epoch(demo_run):
    path = demo_run[1].path
    ds = MERDataset(path, fields=["egemaps.functionals", "egemaps.lld"], shuffle=True, seed=3)
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=pad_collate)
    model = torch.nn.Linear(88, len(view_classes("canonical")))
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    for epoch in range(2):
        ds.set_epoch(epoch)
        seen: Counter[str] = Counter()
        for feats, labels in loader:
            x = feats["egemaps.functionals"]
            x = (x - x.mean(0)) / (x.std(0) + 1e-6)
            loss = torch.nn.functional.cross_entropy(model(x), labels["label"])
            optim.zero_grad()
            loss.backward()
            optim.step()
            assert torch.isfinite(loss)
            assert feats["egemaps.lld"].shape[0] == x.shape[0]
            assert feats["egemaps.lld.mask"].sum(1).tolist() == [
                int(m) for m in feats["egemaps.lld.mask"].sum(1)]
            seen.update(labels["utt_id"])
        assert len(seen) == 24 and set(seen.values()) == {1}


def test_ddp_ranks_and_workers_split_shards_without_duplicates(demo_run):
    path = demo_run[1].path
    ids: list[str] = []
    for rank in range(2):
        ds = MERDataset(path, rank=rank, world_size=2, fields=[])
        ids += [lab["utt_id"] for _, lab in ds]
    assert len(ids) == 24 and len(set(ids)) == 24


def test_padding_masks_mark_real_frames(demo_run):
    ds = MERDataset(demo_run[1].path, fields=["egemaps.lld"])
    batch = [s for _, s in zip(range(3), ds, strict=False)]
    feats, _ = pad_collate(batch)
    lengths = [f["egemaps.lld"].shape[0] for f, _ in batch]
    assert feats["egemaps.lld"].shape[:2] == (3, max(lengths))
    assert feats["egemaps.lld.mask"].sum(1).tolist() == lengths
    assert feats["egemaps.lld"][0, lengths[0]:].abs().sum() == 0 or lengths[0] == max(lengths)


def test_views_filters_and_labels(demo_run):
    path = demo_run[1].path
    ds = MERDataset(path, label_view="iemocap4", filters={"split": "test"}, fields=[])
    items = [lab for _, lab in ds]
    assert len(items) == 8
    names = view_classes("iemocap4")
    got = sorted(names[lab["label"]] for lab in items if lab["label"] >= 0)
    assert got == ["angry", "happy", "neutral", "sad"]  # calm, fearful, ... are not in the view
    assert sum(lab["label"] < 0 for lab in items) == 4
    assert all(torch.isnan(lab["vad"]).all() and not lab["vad_mask"].any() for lab in items)
    only = MERDataset(path, label_view="iemocap4", require_label=True, fields=[])
    assert len(list(only)) == 12
    with pytest.raises(KeyError, match="cannot filter on"):
        MERDataset(path, filters={"mood": "x"})
    with pytest.raises(KeyError, match="unknown label view"):
        MERDataset(path, label_view="plutchik")


def test_class_weights_inverse_frequency(demo_run):
    w = class_weights(demo_run[1].path, "iemocap4")
    assert w.tolist() == [1.0, 1.0, 1.0, 1.0]  # 3 of each of the four classes
    canon = class_weights(demo_run[1].path)
    classes = view_classes("canonical")
    assert canon[classes.index("contempt")] == 0 and canon[classes.index("calm")] == 1.0


def test_polars_lazy_join_and_hf_datasets(demo_run):
    from datasets import load_dataset

    from mer_etl.read import scan

    root = Path(demo_run[1].path)
    lazy = scan(str(root), ["egemaps"]).filter(pl.col("label") == "angry")
    assert "egemaps.F0semitoneFrom27.5Hz_sma3nz_amean" in lazy.collect_schema().names()
    assert lazy.collect().height == 3
    # One load_dataset call per table: HF casts every split of a call to one schema.
    utts = load_dataset("parquet", data_files=str(root / "utterances.parquet"), split="train")
    feats = load_dataset("parquet", data_files=str(root / "features/egemaps/part-*.parquet"),
                         split="train")
    assert utts.num_rows == 24 and feats.num_rows == 24
    assert set(utts.column_names) >= {"utt_id", "label", "soft_label", "split"}
    assert len(feats[0]["lld"][0]) == 25


def test_modality_presence_and_seeded_dropout(demo_run):
    """What each sample holds, and missing-modality training: whole modalities and random
    frames removed at a rate, from a generator seeded per sample, with the masks applied."""
    path = demo_run[1].path
    plain = {lab["utt_id"]: (f, lab) for f, lab in MERDataset(path, fields=["egemaps.lld"])}
    first, lab = next(iter(plain.values()))
    # RAVDESS demo: audio and video media, no face extractor run, the statement's text
    assert lab["present"].tolist() == [True, True, False, True]
    assert lab["modality_mask"].tolist() == [True, False, False]  # egemaps: audio only
    # per frame: voiced where eGeMAPS's F0 is above 0 (espeak speech has both kinds of frame)
    voiced = lab["frame_masks"]["voiced"]
    assert voiced.shape == (first["egemaps.lld"].shape[0],) and 0 < voiced.sum() < len(voiced)

    def masks(seed: int, **kw) -> dict[str, list[bool]]:
        ds = MERDataset(path, fields=["egemaps.lld"], seed=seed, **kw)
        return {lab["utt_id"]: lab["modality_mask"].tolist() for _, lab in ds}

    half = masks(7, modality_dropout={"audio": 0.5})
    assert half == masks(7, modality_dropout={"audio": 0.5})  # reproducible
    assert half != masks(8, modality_dropout={"audio": 0.5})  # and the seed matters
    dropped = [u for u, m in half.items() if not m[0]]
    assert 0 < len(dropped) < len(half)
    ds = MERDataset(path, fields=["egemaps.lld"], seed=7, modality_dropout={"audio": 0.5})
    for feats, lab in ds:
        gone = lab["utt_id"] in dropped
        assert bool(feats["egemaps.lld"].abs().sum() == 0) == gone
    # frame dropout: the kept frames are returned and the others are zero
    ds = MERDataset(path, fields=["egemaps.lld"], seed=1, frame_dropout=0.3)
    for feats, lab in ds:
        keep = lab["frame_keep"]["egemaps.lld"]
        original = plain[lab["utt_id"]][0]["egemaps.lld"]
        assert 0 < keep.sum() < len(keep)
        assert torch.equal(feats["egemaps.lld"][keep], original[keep])
        assert feats["egemaps.lld"][~keep].abs().sum() == 0
    with pytest.raises(ValueError, match="dropout rates must be in"):
        MERDataset(path, modality_dropout={"smell": 0.5})


def test_a_dataset_from_before_labels_v2_still_loads(demo_run, tmp_path):
    """A version written before the per-modality labels, entropy and agreement (no such
    columns, no `presents` or `agreement` in its card) loads, scans and trains as before."""
    import json
    import shutil

    import pyarrow.parquet as pq

    from mer_etl.read import scan

    old = tmp_path / "old"
    shutil.copytree(demo_run[1].path, old)
    table = pq.read_table(old / "utterances.parquet")
    pq.write_table(table.drop_columns(["label_entropy", "label_by_modality"]),
                   old / "utterances.parquet")
    card = json.loads((old / "dataset.json").read_text())
    card["counts"].pop("agreement")
    for entry in card["extractors"].values():
        entry.pop("presents")
    (old / "dataset.json").write_text(json.dumps(card))
    samples = list(MERDataset(str(old), fields=["egemaps.functionals"]))
    assert len(samples) == 24
    assert samples[0][1]["modality_mask"].tolist() == [True, False, False]
    assert scan(str(old)).collect().height == 24
    assert class_weights(str(old)).shape == (len(view_classes("canonical")),)


def test_label_views_apply_to_the_all_inclusive_set(demo_run):
    """`label_set` (every class the raters mentioned, or a compound's two) goes through the
    chosen view like the label: happy + excited is one iemocap4 class, fearful + surprised two
    ekman7 classes."""
    meta = {"utt_id": "x", "corpus": "c", "label": None, "label_set": ["happy", "excited"],
            "soft_label_all": [{"label": "happy", "p": 0.5}, {"label": "excited", "p": 0.5}]}
    four = MERDataset(demo_run[1].path, label_view="iemocap4", fields=[])._labels(meta)
    assert [view_classes("iemocap4")[i] for i in four["label_set"].nonzero().flatten()] == [
        "happy"]
    assert four["soft_all"].sum() == pytest.approx(1.0) and four["label"] == -1
    # train on one presentation modality's perceived label instead of the overall one
    by = {**meta, "label": "happy", "label_by_modality": [
        {"modality": "audio", "label": "sad", "soft_label": [{"label": "sad", "p": 1.0}],
         "sentiment": None}, {"modality": "visual", "label": None, "soft_label": None,
                              "sentiment": -0.5}]}
    audio = MERDataset(demo_run[1].path, fields=[], label_from="audio")._labels(by)
    assert view_classes("canonical")[audio["label"]] == "sad" and audio["soft"].max() == 1
    visual = MERDataset(demo_run[1].path, fields=[], label_from="visual")._labels(by)
    assert visual["label"] == -1 and visual["sentiment"] == -0.5
    ekman = MERDataset(demo_run[1].path, label_view="ekman7", fields=[])._labels(
        {**meta, "label_set": ["fearful", "surprised"]})
    assert sorted(view_classes("ekman7")[i] for i in ekman["label_set"].nonzero().flatten()) \
        == ["fearful", "surprised"]
