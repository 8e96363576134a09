"""Extractors, one module each, behind the interface in `extractors.base`."""

from __future__ import annotations

from typing import Any

from extractors.asr import AsrExtractor
from extractors.audio_stats import AudioStatsExtractor
from extractors.base import Extractor, Resources, Skip
from extractors.egemaps import EgemapsExtractor
from extractors.faces import FacesExtractor
from extractors.wav2vec import Wav2VecExtractor

REGISTRY: dict[str, type[Extractor]] = {
    cls.name: cls
    for cls in (AsrExtractor, AudioStatsExtractor, EgemapsExtractor, FacesExtractor,
                Wav2VecExtractor)
}


def build(name: str, device: str = "cpu", **config: Any) -> Extractor:
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown extractor {name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None
    return cls(device=device, **config)


__all__ = ["REGISTRY", "Extractor", "Resources", "Skip", "build"]
