"""eGeMAPS via openSMILE: 88 functionals per utterance plus the 25 low-level descriptors.

By default openSMILE sees the media at its own sample rate, as audEERING's reference
`opensmile.Smile(...).process_file(path)` does: eGeMAPS is not sample-rate invariant (on 48 kHz
speech, running it on a 16 kHz resampling moved 35 of 88 functionals by more than 20%).

Functionals and LLDs come from one openSMILE run: the feature set's config with the two
external sinks of openSMILE's own `standard_external_data_output_multi` include, through the
SMILEapi that `opensmile.Smile` drives (opensmile-python runs one level per call, so two calls
computed every LLD twice). The values are the reference's, bit for bit (tests/
test_egemaps_reference.py); one pass took half the time of two (bench/results.md).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import opensmile
import pyarrow as pa
from opensmile.core.config import config as smile_config
from opensmile.core.lib import OpenSMILE

from mer_etl.extractors.base import Extractor, FrameSeries, ReportItem, Resources, Skip

FEATURE_SETS = {
    "eGeMAPSv02": opensmile.FeatureSet.eGeMAPSv02,
    "ComParE_2016": opensmile.FeatureSet.ComParE_2016,
}
LLD_HOP_S = 0.01  # openSMILE's LLD frame step for these configs
LLD_WINDOW_S = 0.02
MIN_SECONDS = 0.06  # below one 60 ms pitch frame openSMILE gives NaN for everything


class EgemapsExtractor(Extractor):
    name = "egemaps"
    # 2: native sample rate by default (1 resampled to 16 kHz); 3: under 60 ms is skipped
    # (openSMILE returns NaN for every functional below one 60 ms pitch frame)
    version = "3"
    default_config: ClassVar[dict[str, Any]] = {
        "feature_set": "eGeMAPSv02",
        "lld": True,
        "sample_rate": "native",  # or a rate in Hz to resample to first
    }

    def __init__(self, device: str = "cpu", **config: Any) -> None:
        super().__init__(device, **config)
        if self.config["feature_set"] not in FEATURE_SETS:
            raise ValueError(
                f"egemaps: unknown feature_set {self.config['feature_set']!r}; "
                f"known: {sorted(FEATURE_SETS)}"
            )
        rate = self.config["sample_rate"]
        if rate != "native" and not (isinstance(rate, int) and rate > 0):
            raise ValueError(f"egemaps: sample_rate must be 'native' or a rate in Hz, got {rate!r}")
        self._functionals = self._smile(opensmile.FeatureLevel.Functionals)
        self._lld = self._smile(opensmile.FeatureLevel.LowLevelDescriptors)

    def _smile(self, level: opensmile.FeatureLevel) -> opensmile.Smile:
        return opensmile.Smile(feature_set=FEATURE_SETS[self.config["feature_set"]],
                               feature_level=level)

    def input_rate(self) -> int | None:
        rate = self.config["sample_rate"]
        return None if rate == "native" else int(rate)

    def resources(self) -> Resources:
        return Resources(num_cpus=1.0)  # openSMILE is single-threaded CPU code on any device

    def model_files(self) -> list[Path]:
        # The config and every shared include it pulls in determine the features.
        root = Path(self._functionals.config_path).parents[2]
        conf = Path(self._functionals.config_path)
        return sorted({*conf.parent.glob("*.conf"), *(root / "shared").glob("*.conf")})

    def model_checksums(self) -> dict[str, str]:
        sums = super().model_checksums()
        return {"opensmile": opensmile.__version__, **sums}

    def frame_series(self) -> list[FrameSeries]:
        if not self.config["lld"]:
            return []
        return [FrameSeries("lld_times", LLD_WINDOW_S, {"lld": "egemaps_lld"})]

    def report(self) -> list[ReportItem]:
        return [ReportItem("by_label", "eGeMAPS per label", columns={
            "F0semitoneFrom27.5Hz_sma3nz_amean": "mean F0 (semitones from 27.5 Hz)",
            "loudness_sma3_amean": "mean loudness"})]

    def describe(self) -> dict[str, Any]:
        return {
            "functionals": list(self._functionals.feature_names),
            "lld": list(self._lld.feature_names) if self.config["lld"] else [],
            "lld_hop_s": LLD_HOP_S,
            "lld_window_s": LLD_WINDOW_S,
        }

    def schema(self) -> pa.Schema:
        fields = [pa.field("utt_id", pa.string(), nullable=False)]
        fields += [pa.field(n, pa.float32()) for n in self._functionals.feature_names]
        if self.config["lld"]:
            # Frame-level descriptors and each frame's start in seconds from the utterance start.
            fields += [
                pa.field("lld", pa.list_(pa.list_(pa.float32()))),
                pa.field("lld_times", pa.list_(pa.float32())),
            ]
        return pa.schema(fields)

    def extract(self, signal: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        if signal.size < MIN_SECONDS * sample_rate:
            raise Skip(f"too short: {signal.size / sample_rate:.3f} s < {MIN_SECONDS} s, the "
                       "60 ms window eGeMAPS needs for one pitch frame")
        if self.config["lld"]:
            func, lld, starts = self._one_pass(signal, sample_rate)
            return {"functionals": func, "lld": lld, "lld_times": starts}
        return {"functionals": self._functionals.process_signal(signal, sample_rate)
                .to_numpy(dtype=np.float32).reshape(-1)}

    def _one_pass(self, signal: np.ndarray, sample_rate: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(functionals, LLD frames, LLD frame starts) from one openSMILE run."""
        smile, root = self._functionals, self._functionals.default_config_root
        options = {**smile._options(),  # the options Smile itself passes, but both sinks
                   "sink": os.path.join(root, smile_config.EXTERNAL_OUTPUT_MULTI_CONFIG),
                   "sinkLevelLLD": "lld", "sinkLevelFunc": "func",
                   "source": os.path.join(root, smile_config.EXTERNAL_INPUT_CONFIG),
                   "sampleRate": sample_rate, "nBits": 16}
        options.pop("sinkLevel", None)
        api = OpenSMILE()
        api.initialize(config_file=smile.config_path, options=options, loglevel=smile.loglevel,
                       log_file=smile.logfile, debug=smile.verbose)
        func: list[np.ndarray] = []
        lld: list[np.ndarray] = []
        starts: list[float] = []
        try:
            api.external_sink_set_callback_ex("extsinkfunc", lambda d, _m: func.append(d.copy()))
            api.external_sink_set_callback_ex(
                "extsinklld", lambda d, m: (lld.append(d.copy()), starts.append(m.time)))
            # int16 scaling exactly as opensmile.Smile does it, for identical features
            api.external_audio_source_write_data(
                smile_config.EXTERNAL_SOURCE_COMPONENT,
                bytes((signal * 32768).astype(np.int16)))
            api.external_audio_source_set_eoi(smile_config.EXTERNAL_SOURCE_COMPONENT)
            api.run()
        finally:
            api.free()
        n_func, n_lld = len(self._functionals.feature_names), len(self._lld.feature_names)
        return (np.vstack(func).reshape(-1).astype(np.float32) if func
                else np.full(n_func, np.nan, np.float32),
                np.vstack(lld).astype(np.float32) if lld
                else np.zeros((0, n_lld), np.float32),
                np.asarray(starts, np.float32))

    def to_row(self, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
        row: dict[str, Any] = dict(
            zip(self._functionals.feature_names, arrays["functionals"].tolist(), strict=True)
        )
        if self.config["lld"]:
            row["lld"], row["lld_times"] = arrays["lld"], arrays["lld_times"]
        return row
