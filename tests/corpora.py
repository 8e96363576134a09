"""Miniature corpora in their publishers' exact native layouts, with short real media."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np

from tests.media import write_wav


@cache
def _protos() -> Path:
    return Path(tempfile.mkdtemp(prefix="mer-etl-protos-"))


@cache
def _video(ext: str, seconds: float) -> Path:
    """One real video file with an audio track per container (copied for every clip)."""
    out = _protos() / f"proto-{seconds}.{ext}"
    wav = write_wav(_protos() / f"proto-{seconds}.wav", seconds, 48_000)
    codecs = {"mp4": ["-c:v", "libx264", "-c:a", "aac"],
              "flv": ["-c:v", "flv1", "-c:a", "libmp3lame", "-ar", "44100"],
              "avi": ["-c:v", "mpeg4", "-c:a", "libmp3lame"]}[ext]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c=gray:s=64x48:d={seconds}", "-i", str(wav), "-shortest",
                    *codecs, str(out)], check=True)
    return out


def video(dest: Path, seconds: float = 1.0) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_video(dest.suffix[1:], seconds), dest)
    return dest


def make_cremad(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for clip in ("1001_DFA_ANG_XX", "1001_IEO_HAP_LO", "1075_IEO_SAD_HI", "1085_TIE_NEU_XX"):
        write_wav(root / "AudioWAV" / f"{clip}.wav", 0.5, 16_000)
    video(root / "VideoFlash" / "1001_DFA_ANG_XX.flv")
    shutil.copy(root / "AudioWAV" / "1075_IEO_SAD_HI.wav", root / "AudioMP3.mp3")  # foreign
    (root / "processedResults").mkdir()
    (root / "processedResults" / "tabulatedVotes.csv").write_text(
        '"","A","D","F","H","N","S","fileName","numResponses","agreement","emoVote"\n'
        '"100001",5,5,0,0,0,0,"1001_DFA_ANG_XX",10,0.5,"A:D"\n'
        '"300001",6,2,0,0,2,0,"1001_DFA_ANG_XX",10,0.6,"A"\n'
        '"100002",5,5,0,0,1,1,"1001_IEO_HAP_LO",12,0.416666666666667,"A:D"\n'
        '"100003",0,0,0,0,0,9,"1090_ITS_FEA_XX",9,1,"S"\n'
    )
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1075,22,Female,African American,Not Hispanic\n"
    )
    return root


IEMOCAP_EVAL_1 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
C-E4:\tNeutral;\t()
C-F1:\tNeutral;\t(curious)
A-E3:\tval 3; act 2; dom  2;\t()
A-F1:\tval 3; act 2; dom  1;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[4.0000, 3.5000, 3.0000]
C-E1:\tExcited; Happiness;\t()
C-E2:\tExcited;\t()
C-M1:\tHappiness;\t()

[14.8872 - 18.0175]\tSes01F_impro01_F001\txxx\t[2.3333, 3.0000, 3.3333]
C-E1:\tFrustration;\t()
C-E2:\tAnger;\t()
C-E3:\tNeutral;\t()

[19.2900 - 20.8700]\tSes01F_impro01_M001\tfru\t[1.5000, 3.5000, 4.0000]
C-E1:\tFrustration;\t()

[21.0000 - 22.0000]\tSes01F_impro01_F002\tsad\t[1.0000, 1.5000, 2.0000]
C-E1:\tSadness;\t()
"""
IEMOCAP_EVAL_5 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[1.0000 - 2.5000]\tSes05M_script01_1_F000\tang\t[1.5000, 4.5000, 4.0000]
C-E1:\tAnger;\t()
C-E2:\tAnger; Frustration;\t()
"""


def make_iemocap(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    s1 = root / "Session1"
    (s1 / "dialog" / "EmoEvaluation" / "Categorical").mkdir(parents=True)
    (s1 / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(IEMOCAP_EVAL_1)
    (s1 / "dialog" / "EmoEvaluation" / "Categorical" / "Ses01F_impro01_e2_cat.txt").write_text(
        "Ses01F_impro01_F000 :Neutral state; ()\n")  # per-evaluator files are skipped
    (s1 / "dialog" / "transcriptions").mkdir(parents=True)
    (s1 / "dialog" / "transcriptions" / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
        "Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?\n"
        "M: [BREATHING]\n"
    )
    for utt in ("F000", "M000", "F001", "M001"):  # F002 is labelled but has no WAV
        write_wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / f"Ses01F_impro01_{utt}.wav", 0.5)
    write_wav(s1 / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F099.wav", 0.5)
    video(s1 / "dialog" / "avi" / "DivX" / "Ses01F_impro01.avi", 25.0)
    s5 = root / "Session5"
    (s5 / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (s5 / "dialog" / "EmoEvaluation" / "Ses05M_script01_1.txt").write_text(IEMOCAP_EVAL_5)
    write_wav(s5 / "sentences" / "wav" / "Ses05M_script01_1" / "Ses05M_script01_1_F000.wav", 0.5)
    return root


MELD_HEADER = ("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,"
               "Episode,StartTime,EndTime\n")


def make_meld(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train_sent_emo.csv").write_text(
        MELD_HEADER
        + '1,"Oh my God, he\x92s lost it.",Monica,surprise,negative,0,0,8,21,'
          '"00:16:16,059","00:16:21,731"\n'
        + '5,My duties?  All right.,Chandler,surprise,positive,0,4,8,21,'
          '"00:16:34,452","00:16:40,917"\n'
        + '6,Now you\'ll be heading a whole division.,The Interviewer,neutral,neutral,0,5,8,21,'
          '"0:16:41,126","0:16:44,337"\n'
        + '7,Oh no.,Joey,joy,positive,1,0,3,4,"00:01:00,000","00:01:01,500"\n'
    )
    (root / "dev_sent_emo.csv").write_text(
        MELD_HEADER + '1,Why?,Rachel,anger,negative,0,0,4,7,"00:02:00,000","00:02:01,000"\n')
    (root / "test_sent_emo.csv").write_text(
        MELD_HEADER + '1,Okay.,Ross,sadness,negative,0,0,2,9,"00:03:00,000","00:03:02,000"\n')
    for sub, clip in [("train_splits", "dia0_utt0"), ("train_splits", "dia0_utt4"),
                      ("train_splits", "dia0_utt5"), ("train_splits", "dia9_utt9"),
                      ("dev_splits_complete", "dia0_utt0"),
                      ("output_repeated_splits_test", "dia0_utt0")]:
        video(root / sub / f"{clip}.mp4", 0.6)
    (root / "train_splits" / "._dia0_utt0.mp4").write_bytes(b"\x00\x05\x16\x07")
    video(root / "output_repeated_splits_test" / "final_videos_testdia0_utt0.mp4", 0.6)
    return root


def make_msp_podcast(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Labels").mkdir(parents=True)
    (root / "Labels" / "labels_consensus.csv").write_text(
        "FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set\n"
        "MSP-PODCAST_0001_0008.wav,N,2.2,4.0,2.6,30,Male,Test1\n"
        "MSP-PODCAST_0001_0019.wav,X,4.0,3.2,4.4,30,Male,Train\n"
        "MSP-PODCAST_0002_0033.wav,O,5.8,1.0,7.0,Unknown,Unknown,Development\n"
        "MSP-PODCAST_0003_0001.wav,C,7.0,2.0,5.0,112,Female,Test2\n"
        "MSP-PODCAST_0004_0001.wav,A,6.0,1.5,6.0,113,Female,Train\n"
    )
    for name in ("0001_0008", "0001_0019", "0002_0033", "0003_0001", "0009_0009"):
        write_wav(root / "Audios" / f"MSP-PODCAST_{name}.wav", 0.5, 16_000)
    (root / "Transcripts").mkdir()
    (root / "Transcripts" / "MSP-PODCAST_0001_0008.txt").write_text("so I told him no\n")
    return root


def make_mosei(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    import h5py

    labels = {
        # sentiment, happiness, sadness, anger, surprise, disgust, fear
        "vidA_1": ([[0.0, 1.2], [1.5, 2.5]], [[0, 0, 0, 0, 0, 0, 0], [2.0, 2.0, 1.0, 0, 0, 0, 0]]),
        "-3g5yACwYnA": ([[-0.1, 1.0]], [[-3.0, 0, 0, 1.0, 0, 1.0, 0]]),
        "noMedia": ([[0.0, 1.0]], [[1.0, 1.0, 0, 0, 0, 0, 0]]),
    }
    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "CMU_MOSEI_Labels.csd", "w") as h5:
        data = h5.create_group("All Labels").create_group("data")
        for vid, (ivals, feats) in labels.items():
            g = data.create_group(vid)
            g.create_dataset("intervals", data=np.asarray(ivals, dtype=np.float64))
            g.create_dataset("features", data=np.asarray(feats, dtype=np.float32))
        h5["All Labels"].create_group("metadata")
    for vid in ("vidA_1", "-3g5yACwYnA", "orphan"):
        write_wav(root / "Raw" / "Audio" / "Full" / "WAV_16000" / f"{vid}.wav", 3.0, 16_000)
    seg = root / "Transcript" / "Segmented" / "Combined"
    seg.mkdir(parents=True)
    (seg / "vidA_1.txt").write_text("vidA_1___0___0.0___1.2___hello there\n"
                                    "vidA_1___1___1.5___2.5___i love this movie\n")
    (root / "cmu_mosei_std_folds.py").write_text(
        "standard_train_fold=['vidA_1', 'xyz']\nstandard_valid_fold=[]\n"
        "standard_test_fold=['-3g5yACwYnA']\n")
    return root


def make_esd(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for spk, emo, split, n in [("0011", "Angry", "train", "000351"),
                               ("0011", "Happy", "evaluation", "000701"),
                               ("0011", "Surprise", "test", "001741"),
                               ("0001", "Sad", "train", "001051")]:
        write_wav(root / spk / emo / split / f"{spk}_{n}.wav", 0.3, 16_000)
    (root / "0011" / "0011.txt").write_text(
        "0011_000351\tThe nine the eggs, I keep.\tAngry\n"
        "0011_000701\tI am happy.\tHappy\n"
        "0011_001741\tWhat a surprise.\tSad\n", encoding="utf-8")
    (root / "0001" / "0001.txt").write_text("0001_001051\t打远一看，它们的确很是美丽。\t伤心\n",
                                            encoding="utf-16")
    return root


def make_emodb(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in ("03a01Fa", "08b10Lb", "12a04Wc", "16b01Nd", "09a05Ea", "10b03Ab", "14a07Ta"):
        write_wav(root / "wav" / f"{name}.wav", 0.3, 16_000)
    write_wav(root / "wav" / "03x01Fa.wav", 0.1, 16_000)
    (root / "erkennung.txt").write_bytes("Satz\tErkennung\n03a01Fa\t92,3\n".encode("latin-1"))
    return root


def make_tess(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for folder, name in [("OAF_angry", "OAF_back_angry"), ("YAF_pleasant_surprised", "YAF_dog_ps"),
                         ("OAF_Pleasant_surprise", "OAF_bath_pleasant_surprised"),
                         ("YAF_neutral", "YAF_youth_neutral"), ("OAF_Fear", "OAF_food_fear")]:
        rate = 96_000 if name == "OAF_food_fear" else 24_414
        write_wav(root / folder / f"{name}.wav", 0.3, rate)
    write_wav(root / "OAF_angry" / "OAF_back_furious.wav", 0.1, 24_414)
    return root


def make_savee(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for spk, name in [("DC", "a01"), ("DC", "sa02"), ("JE", "su03"), ("JK", "n01"),
                      ("KL", "h05"), ("KL", "d15"), ("KL", "f10")]:
        write_wav(root / "AudioData" / spk / f"{name}.wav", 0.3, 44_100)
    write_wav(root / "AudioData" / "KL" / "x01.wav", 0.1, 44_100)
    return root
