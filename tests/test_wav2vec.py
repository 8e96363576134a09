"""SSL speech features through the real loading path, with a tiny random Wav2Vec2 saved the way
a user's downloaded model is (save_pretrained: safetensors + config + preprocessor config)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mer_etl.extractors import Skip, build
from tests.models import save_tiny_wav2vec2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return save_tiny_wav2vec2(tmp_path_factory.mktemp("w2v") / "tiny-wav2vec2")


def signal(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * 180 * t) + 0.05 * rng.standard_normal(t.size)).astype(
        np.float32)


def run(model: Path, x: np.ndarray, **config) -> dict[str, np.ndarray]:
    ex = build("wav2vec", model=str(model), **config)
    ex.setup()
    return ex.extract(x, 16_000)


def test_frames_pooled_and_times(tiny):
    out = run(tiny, signal(1.0))
    assert out["frames_last"].shape == (49, 32) and out["frames_mean"].shape == (49, 32)
    assert np.allclose(np.diff(out["frame_times"]), 0.02)
    assert out["pooled_last"].shape == (32,)
    assert np.allclose(out["pooled_mean"], out["frames_mean"].mean(0), atol=1e-6)
    half = run(tiny, signal(1.0), dtype="float16", frames=False)
    assert set(half) == {"pooled_last", "pooled_mean"} and half["pooled_last"].dtype == np.float16


def test_long_inputs_are_chunked_without_edge_artefacts(tiny):
    x = signal(6.0)
    whole = run(tiny, x, chunk_s=60)["frames_last"]
    with_context = run(tiny, x, chunk_s=2, context_s=1)
    no_context = run(tiny, x, chunk_s=2, context_s=0)["frames_last"]
    assert with_context["frames_last"].shape == whole.shape == (299, 32)
    assert np.allclose(with_context["frame_times"], np.arange(299) * 0.02)
    boundaries = [99, 100, 199, 200]  # frames either side of the 2 s chunk edges
    dev = lambda a: np.abs(a[boundaries] - whole[boundaries]).mean()  # noqa: E731
    assert dev(with_context["frames_last"]) < 0.5 * dev(no_context)


def test_short_input_is_skipped_and_wrong_rate_refused(tiny):
    with pytest.raises(Skip, match="too short"):
        run(tiny, signal(0.02))
    ex = build("wav2vec", model=str(tiny))
    ex.setup()
    with pytest.raises(ValueError, match="16 kHz"):
        ex.extract(signal(1.0), 8_000)


def test_missing_model_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match=r"not-a/model.*Hugging Face cache"):
        build("wav2vec", model="not-a/model")


def test_model_weights_are_in_the_version(tiny, tmp_path):
    other = save_tiny_wav2vec2(tmp_path / "other", seed=1)
    a = build("wav2vec", model=str(tiny)).fingerprint()["models"]
    b = build("wav2vec", model=str(other)).fingerprint()["models"]
    assert a["config.json"] == b["config.json"]
    assert a["model.safetensors"] != b["model.safetensors"]


def test_wav2vec_in_a_pipeline_run(tiny, tmp_path, ray_local):
    from mer_etl.pipeline import RunConfig
    from mer_etl.pipeline import run as run_pipeline
    from tests.media import write_wav

    root = tmp_path / "RAVDESS"
    for emo in ("03", "05"):
        write_wav(root / "Actor_04" / f"03-01-{emo}-01-01-01-04.wav", 1.0)
    result = run_pipeline(RunConfig(
        corpora=["ravdess"], roots=[str(root)], out=str(tmp_path / "out"),
        extractors=["wav2vec"], extractor_config={"wav2vec": {"model": str(tiny)}}))
    card = result.card
    assert card["extractors"]["wav2vec"]["status"] == {"ok": 2}
    assert "model.safetensors" in card["extractors"]["wav2vec"]["models"]
    import polars as pl

    feats = pl.read_parquet(Path(result.path) / "features/wav2vec/part-000000.parquet")
    assert feats["pooled_last"].list.len().to_list() == [32, 32]
    assert json.loads((Path(result.path) / "dataset.json").read_text())["version"] == \
        result.version


def test_chosen_layers_are_kept_on_their_own(tiny):
    both = run(tiny, signal(1.0), layers=[0, -1])
    assert both["frames_layer0"].shape == both["frames_layer-1"].shape == (49, 32)
    np.testing.assert_array_equal(both["frames_layer-1"], both["frames_last"])
    assert not np.allclose(both["frames_layer0"], both["frames_last"])
    assert both["pooled_layer0"].shape == (32,)
    with pytest.raises(ValueError, match="outside the model's 3 hidden states"):
        run(tiny, signal(1.0), layers=[7])


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_batched_forward_passes_match_one_at_a_time(tmp_path, norm):
    """Sorted by length and padded: a layer-norm encoder takes the attention mask and gives
    the unbatched frames within 1e-4; a group-norm one (normalising over the padded input)
    only batches equal lengths, so its results are the unbatched ones too. Too short, long
    (chunked) and wrong-rate inputs keep their own outcomes."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from tests.models import _config

    torch.manual_seed(0)
    path = tmp_path / norm
    Wav2Vec2Model(_config(feat_extract_norm=norm, do_stable_layer_norm=norm == "layer")
                  ).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=norm == "layer",
                             return_attention_mask=norm == "layer").save_pretrained(path)
    one = build("wav2vec", model=str(path), chunk_s=3.0)
    many = build("wav2vec", model=str(path), chunk_s=3.0, batch=4)
    one.setup()
    many.setup()
    assert (one.batch_size(), many.batch_size()) == (1, 4)
    inputs = [(signal(s, seed=i), 16_000) for i, s in
              enumerate([1.0, 0.7, 1.3, 1.0, 0.9, 5.0, 1.0])]
    inputs += [(signal(0.01), 16_000), (signal(1.0), 8_000)]
    calls = []
    forward = many._model.forward
    many._model.forward = lambda *a, **k: calls.append(len(k["input_values"] if "input_values"
                                                          in k else a[0])) or forward(*a, **k)
    got = many.extract_many(inputs)
    assert isinstance(got[-2], Skip) and isinstance(got[-1], ValueError)
    for (x, rate), batched in zip(inputs[:-2], got[:-2], strict=True):
        ref = one.extract(x, rate)
        assert set(batched) == set(ref)
        for key in ref:
            assert batched[key].shape == ref[key].shape
            assert np.allclose(batched[key], ref[key], atol=1e-4), key
    # the 5 s input first, in two 3 s windows; then the six short ones: any lengths in
    # passes of 4 and 2, or (group norm) only the three 1.0 s ones together
    assert calls == ([1, 1, 4, 2] if norm == "layer" else [1, 1, 1, 1, 3, 1])
