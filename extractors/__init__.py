"""Extractors, one module each, behind the interface in `extractors.base`."""

from __future__ import annotations

import importlib
import os
from typing import Any

from mer_etl.extractors.asr import AsrExtractor
from mer_etl.extractors.audio_stats import AudioStatsExtractor
from mer_etl.extractors.base import Extractor, Resources, Skip
from mer_etl.extractors.egemaps import EgemapsExtractor
from mer_etl.extractors.faces import FacesExtractor
from mer_etl.extractors.wav2vec import Wav2VecExtractor

REGISTRY: dict[str, type[Extractor]] = {
    cls.name: cls
    for cls in (AsrExtractor, AudioStatsExtractor, EgemapsExtractor, FacesExtractor,
                Wav2VecExtractor)
}


def _plugins() -> None:
    """Extractors of your own: MER_ETL_EXTRACTORS="pkg.mod,other.mod" imports each module and
    registers every Extractor subclass it defines. An environment variable, not an argument,
    because every Ray worker must register them too, and workers inherit the environment."""
    for name in filter(None, (m.strip() for m in os.environ.get("MER_ETL_EXTRACTORS",
                                                              "").split(","))):
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Extractor) and obj.__module__ == name:
                REGISTRY[obj.name] = obj


_plugins()


def build(name: str, device: str = "cpu", **config: Any) -> Extractor:
    try:
        cls = REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown extractor {name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None
    return cls(device=device, **config)


__all__ = ["REGISTRY", "Extractor", "Resources", "Skip", "build"]
