"""The extractor registry imports an extractor's module only when one is built, so a Ray actor
pays for the libraries of the extractors its stage runs and no others."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_built_in_extractors_are_imported_when_built():
    code = (
        "import sys\n"
        "from mer_etl.extractors import build\n"
        "heavy = ('opensmile', 'polars', 'pandas', 'whisperx', 'torch', 'dlib')\n"
        "assert not [m for m in heavy if m in sys.modules], sorted(sys.modules)\n"
        "ex = build('audio_stats')\n"
        "assert ex.name == 'audio_stats' and 'opensmile' not in sys.modules\n"
        "build('egemaps')\n"
        "assert 'opensmile' in sys.modules and 'whisperx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_unknown_extractor_names_the_known_ones():
    from mer_etl.extractors import build

    with pytest.raises(ValueError, match=r"unknown extractor 'nope'; known: asr, audio_stats, "
                                         r"egemaps, faces, wav2vec"):
        build("nope")
