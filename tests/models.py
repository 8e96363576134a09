"""Tiny random Hugging Face models saved the way a user's downloaded ones are
(save_pretrained: safetensors + config + preprocessor config), so tests load them through the
real code path. No weights exist offline for these architectures."""

from __future__ import annotations

import json
from pathlib import Path

VOCAB = ["<pad>", "<s>", "</s>", "<unk>", "|", *"abcdefghijklmnopqrstuvwxyz'"]


def _config(**extra):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=4, **extra)


def save_tiny_wav2vec2(path: Path, seed: int = 0) -> Path:
    import torch
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(seed)
    Wav2Vec2Model(_config()).save_pretrained(path)
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(path)
    return path


def save_tiny_ctc(path: Path, seed: int = 0) -> Path:
    """A character CTC model with a processor: what whisperx's aligner loads."""
    import torch
    from transformers import (
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.json").write_text(json.dumps({c: i for i, c in enumerate(VOCAB)}))
    tokenizer = Wav2Vec2CTCTokenizer(str(path / "vocab.json"), word_delimiter_token="|")
    processor = Wav2Vec2Processor(Wav2Vec2FeatureExtractor(do_normalize=True), tokenizer)
    processor.save_pretrained(path)
    Wav2Vec2ForCTC(_config(vocab_size=len(VOCAB), pad_token_id=0)).save_pretrained(path)
    return path
