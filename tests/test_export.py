"""LLM exports, each read back by a parser written from its format's documentation."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from mer_etl.export import export
from mer_etl.loaders import view_classes


def read_sharegpt(folder: Path) -> list[dict]:
    """LLaMA-Factory data/README.md: dataset_info.json registers the file with formatting
    sharegpt and its columns; `conversations` alternate human (odd positions) and gpt (even);
    each `<audio>`/`<video>` placeholder stands for one file of `audios`/`videos`, in order."""
    info = json.loads((folder / "dataset_info.json").read_text())
    (entry,) = info.values()
    assert entry["formatting"] == "sharegpt"
    cols = entry["columns"]
    data = json.loads((folder / entry["file_name"]).read_text())
    for item in data:
        turns = item[cols["messages"]]
        assert [t["from"] for t in turns] == ["human", "gpt"] * (len(turns) // 2)
        human = " ".join(t["value"] for t in turns if t["from"] == "human")
        assert human.count("<audio>") == len(item[cols["audios"]])
        assert human.count("<video>") == len(item[cols["videos"]])
        assert all(Path(p).is_file() for p in item[cols["audios"]] + item[cols["videos"]])
        assert isinstance(item[cols["system"]], str)
    return data


def read_merr(folder: Path) -> dict:
    """Emotion-LLaMA's MERR: JSON keyed by sample with AU_list, visual_prior_list,
    audio_prior_list, peak_index (a string), peak_AU_list, pseu_emotion, caption, text; and a
    TXT of `<name> <frames> <emotion>` lines for the same samples."""
    data = json.loads((folder / "MERR.json").read_text())
    for item in data.values():
        assert isinstance(item["AU_list"], list) and isinstance(item["peak_AU_list"], list)
        assert isinstance(item["visual_prior_list"], list)
        assert isinstance(item["peak_index"], str) and isinstance(item["pseu_emotion"], str)
        assert {"audio_prior_list", "caption", "text"} <= set(item)
    lines = [ln.split(" ") for ln in (folder / "MERR.txt").read_text().splitlines()]
    assert {name: emotion for name, _, emotion in lines} == {
        k: v["pseu_emotion"] for k, v in data.items()}
    assert all(re.fullmatch(r"\d+", frames) for _, frames, _ in lines)
    return data


def test_sharegpt_export(demo_run, tmp_path):
    path = demo_run[1].path
    export(path, "sharegpt", tmp_path / "sg", label_view="iemocap4")
    data = read_sharegpt(tmp_path / "sg")
    # utterances whose label the view covers: RAVDESS's neutral, happy, angry and sad ones
    assert len(data) == 12 and {d["conversations"][1]["value"] for d in data} == {
        "neutral", "happy", "angry", "sad"}
    human = data[0]["conversations"][0]["value"]
    assert human.startswith("<video><audio>What emotion does the speaker express? Answer "
                            f"with one of: {', '.join(view_classes('iemocap4'))}.")
    assert 'Subtitle: "' in human and "Cues: Transcript:" in human  # the cues view's text
    meta = json.loads((tmp_path / "sg" / "export.json").read_text())
    assert (meta["format"], meta["format_version"], meta["samples"]) == ("sharegpt", "1", 12)


def read_llava_style(folder: Path, key: str, token: str) -> list[dict]:
    """LLaVA's layout (also what Qwen2.5-VL's fine-tuning code reads): a list of {id, <key>: a
    media path, conversations: human then gpt}, the human turn starting with `<token>\n` and
    naming the media once."""
    data = json.loads((folder / "data.json").read_text())
    for item in data:
        human, gpt = item["conversations"]
        assert (human["from"], gpt["from"]) == ("human", "gpt")
        assert human["value"].startswith(token + "\n") and human["value"].count(token) == 1
        assert Path(item[key]).is_file() and gpt["value"]
    return data


def test_qwen_vl_export(demo_run, tmp_path):
    export(demo_run[1].path, "qwen-vl", tmp_path / "q", label_view="ekman7")
    data = read_llava_style(tmp_path / "q", "video", "<video>")
    assert len(data) == 21 and all(d["video"].endswith(".mp4") for d in data)


def test_merr_export(demo_run, tmp_path):
    export(demo_run[1].path, "merr", tmp_path / "merr", cues=False)
    data = read_merr(tmp_path / "merr")
    assert len(data) == 24
    item = data["ravdess_01-05-01-01-01-02"]
    assert item["pseu_emotion"] == "angry" and item["caption"] == ""
    assert "pitch " in item["audio_prior_list"]  # the voice part of the cues


def read_affectgpt(folder: Path) -> dict[str, dict]:
    """AffectGPT's MER2025 readers (MERCaptionPlus_Dataset): track2_train_<d>.csv `name`,
    `openset` (a list literal its string_to_list splits on brackets and quotes; empty means
    neutral), track3 `name`, `reason`, subtitle_chieng.csv `name`, `english` (NaN: ""), and
    the media as <root>/<name>.mp4, <root>/<name>.wav, <root>/<name>/<name>.npy."""
    import csv
    import wave

    def rows(name: str) -> list[dict]:
        with (folder / name).open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def string_to_list(text: str) -> list[str]:
        if not text:
            return []
        inner = text.split("[")[1].split("]")[0]
        return [x for x in re.split("['\"]", inner) if x.strip() not in ("", ",")]

    (track2,) = folder.glob("track2_train_*.csv")
    subtitle = {r["name"]: r["english"] for r in rows("subtitle_chieng.csv")}
    out = {}
    for r in rows(track2.name):
        words = string_to_list(r["openset"]) or ["neutral"]
        with wave.open(str(folder / "audio" / f"{r['name']}.wav")) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
            seconds = w.getnframes() / 16000
        video = folder / "video" / f"{r['name']}.mp4"
        out[r["name"]] = {"ovlabel": ", ".join(words), "subtitle": subtitle[r["name"]],
                          "seconds": seconds, "video": video if video.is_file() else None}
    return out


def test_affectgpt_export(demo_run, tmp_path):
    export(demo_run[1].path, "affectgpt-csv", tmp_path / "ag", label_view="ekman7")
    data = read_affectgpt(tmp_path / "ag")
    assert len(data) == 21
    item = data["ravdess_01-05-01-01-01-02"]
    assert item["ovlabel"] == "angry" and item["video"] is not None
    assert 1.0 < item["seconds"] < 6.0 and item["subtitle"]
    meta = json.loads((tmp_path / "ag" / "export.json").read_text())
    assert meta["media"] == {"audio": 21, "audio_failed": 0, "video": 21,
                             "video_not_whole_mp4": 0, "faces": 0}


def test_hf_export_loads_with_an_audio_feature(demo_run, tmp_path):
    from datasets import Audio, Video, load_dataset

    export(demo_run[1].path, "hf", tmp_path / "hf", split="train")
    ds = load_dataset("parquet", data_files=str(tmp_path / "hf" / "data" / "*.parquet"),
                      split="train")
    assert isinstance(ds.features["audio"], Audio) and isinstance(ds.features["video"], Video)
    assert Path(ds[0]["video"]["path"]).is_file()
    assert ds.features["start"].dtype == "float64"  # typed even where every span is null
    assert ds.num_rows == 8 and set(ds["split"]) == {"train"}
    assert Path(ds[0]["audio"]["path"]).is_file()


def test_bad_format_is_one_clear_error(demo_run, tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        export(demo_run[1].path, "alpaca", tmp_path)
