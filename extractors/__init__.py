"""Extractors, one module each, behind the interface in `extractors.base`."""

from __future__ import annotations

import importlib
import os
from typing import Any

from mer_etl.extractors.base import Extractor, Resources, Skip

# Built-in extractors by module, imported when first built: a Ray actor imports only what its
# stage runs (opensmile with pandas, polars for faces' tables: 0.45 s for all five at start-up).
BUILTIN = {"asr": "asr:AsrExtractor", "audio_stats": "audio_stats:AudioStatsExtractor",
           "egemaps": "egemaps:EgemapsExtractor", "faces": "faces:FacesExtractor",
           "wav2vec": "wav2vec:Wav2VecExtractor"}
REGISTRY: dict[str, type[Extractor]] = {}  # the classes built so far, and plugins'


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
    if name not in REGISTRY:
        if name not in BUILTIN:
            raise ValueError(f"unknown extractor {name!r}; known: "
                             f"{', '.join(sorted({*BUILTIN, *REGISTRY}))}")
        module, cls = BUILTIN[name].split(":")
        REGISTRY[name] = getattr(importlib.import_module(f"mer_etl.extractors.{module}"), cls)
    return REGISTRY[name](device=device, **config)


__all__ = ["BUILTIN", "REGISTRY", "Extractor", "Resources", "Skip", "build"]
