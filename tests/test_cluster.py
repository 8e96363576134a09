"""`--ray-address` runs the same job on an existing Ray cluster (`ray start --head`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import corpora
from tests.conftest import _free_port

BIN = Path(sys.executable).parent


def test_run_on_an_existing_cluster(tmp_path):
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--port", str(port), "--num-cpus", "2",
         "--include-dashboard=false", "--block"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        root = corpora.make_savee(tmp_path / "SAVEE")
        out = tmp_path / "out"
        deadline = time.monotonic() + 60
        while True:  # the head takes a few seconds to accept drivers
            proc = subprocess.run(
                [str(BIN / "mer-etl"), "run", "savee", "--root", str(root), "--out", str(out),
                 "--ray-address", f"127.0.0.1:{port}", "--extractors", "audio_stats"],
                env=env, capture_output=True, text=True, timeout=300)
            if proc.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert proc.returncode == 0, proc.stderr
        (card,) = [json.loads(p.read_text()) for p in out.glob("savee/*/dataset.json")]
        assert card["extractors"]["audio_stats"]["status"] == {"ok": 7}
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)


def _wait_for_job_agent(address: str, env: dict[str, str]) -> None:
    """The head accepts jobs a few seconds after `ray start` returns: submit a no-op until
    it runs."""
    deadline = time.monotonic() + 90
    while True:
        probe = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", address, "--",
                                "true"], env=env, capture_output=True, text=True, timeout=120)
        if probe.returncode == 0:
            return
        assert time.monotonic() < deadline, probe.stderr[-2000:]
        time.sleep(2)


def _data_files(version: Path) -> dict[str, str]:
    card = json.loads((version / "dataset.json").read_text())
    return {rel: f["sha256"] for rel, f in card["files"].items()}


def test_make_cluster_submits_a_job_and_a_killed_job_resumes_identically(tmp_path):
    """`make cluster-<corpus>` against a real head node (dashboard and job server on
    127.0.0.1): the job runs with the repository as working_dir; stopped mid-run and
    submitted again it resumes, and its files are byte-identical to an uninterrupted run."""
    from tests.media import write_wav

    port, dash = _free_port(), _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PATH": f"{BIN}:{os.environ['PATH']}"}
    # --block in a process group of its own: stopping it stops this head node alone
    # (`ray stop` would stop every Ray on the machine, the test session's own included)
    # Every agent port is a free one: the test session's own Ray may hold the defaults.
    agents = [f"--{name}={_free_port()}" for name in (
        "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
        "runtime-env-agent-port", "ray-client-server-port")]
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
         "--port", str(port), "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
         "--include-dashboard=true", "--num-cpus", "2", "--disable-usage-stats", *agents],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for_job_agent(f"http://127.0.0.1:{dash}", env)
        root = tmp_path / "RAVDESS"
        for actor in range(1, 11):
            for emo in ("01", "03", "04", "05"):
                write_wav(root / f"Actor_{actor:02d}" / f"03-01-{emo}-01-01-01-{actor:02d}.wav",
                          12.0)  # long enough that the stop lands mid-run
        make = ["make", "-s", "--no-print-directory", "cluster-ravdess", f"ROOT={root}",
                f"RAY_ADDRESS=http://127.0.0.1:{dash}", "MER_ETL_ARGS=--shard-size 4"]
        repo = Path(__file__).resolve().parents[1]
        out = tmp_path / "out"
        # the job, stopped once its first shard is written
        job = subprocess.Popen([*make, f"OUT={out}"], cwd=repo, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
        deadline = time.monotonic() + 240
        while not list(out.glob("ravdess/*/status/egemaps/part-000000.parquet")):
            assert job.poll() is None, job.stdout.read()
            assert time.monotonic() < deadline, "no shard written in 240 s"
            time.sleep(0.2)
        from ray.job_submission import JobStatus, JobSubmissionClient

        client = JobSubmissionClient(f"http://127.0.0.1:{dash}")
        (running,) = [j for j in client.list_jobs() if j.status == JobStatus.RUNNING
                      and "mer_etl.cli run ravdess" in j.entrypoint]
        client.stop_job(running.submission_id)
        job.wait(timeout=120)
        (version,) = out.glob("ravdess/*")
        assert not (version / "dataset.json").exists(), "the job finished before it was stopped"
        # submitted again: it resumes the same version
        again = subprocess.run([*make, f"OUT={out}"], cwd=repo, env=env, text=True,
                               capture_output=True, timeout=300)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert "succeeded" in again.stdout + again.stderr
        # an uninterrupted run gives the same version, byte for byte
        clean = subprocess.run([*make, f"OUT={tmp_path / 'clean'}"], cwd=repo, env=env,
                               text=True, capture_output=True, timeout=300)
        assert clean.returncode == 0, clean.stdout[-3000:]
        (clean_version,) = (tmp_path / "clean").glob("ravdess/*")
        assert clean_version.name == version.name
        assert _data_files(version) == _data_files(clean_version)
        # 10 shards x (base tar, egemaps feature part, tar, status part), plus the tables
        assert len(_data_files(version)) >= 10 * 4
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)


def test_decoding_never_runs_in_a_gpu_stage():
    """GPU extractors get decoded audio from a CPU stage: the CPU extractors' stage, or one
    that only decodes when every audio extractor is on the GPU."""
    from mer_etl.extractors import Resources
    from mer_etl.runner import stage_groups

    class Ex:
        def __init__(self, name: str, gpus: float) -> None:
            self.name, self.gpus = name, gpus

        def resources(self) -> Resources:
            return Resources(num_cpus=1.0, num_gpus=self.gpus)

    w2v, asr, eg = Ex("wav2vec", 1.0), Ex("asr", 1.0), Ex("egemaps", 0.0)
    names = lambda groups: [[e.name for e in g] for g in groups]  # noqa: E731
    assert names(stage_groups([w2v, asr], decodes=True)) == [[], ["wav2vec"], ["asr"]]
    assert names(stage_groups([eg, w2v], decodes=True)) == [["egemaps"], ["wav2vec"]]
    assert names(stage_groups([w2v], decodes=False)) == [["wav2vec"]]  # video: no audio
    assert names(stage_groups([eg], decodes=True)) == [["egemaps"]]


def test_a_decode_only_stage_feeds_the_next(demo_corpus, demo_run, tmp_path, monkeypatch):
    """The stage that only decodes (what GPU-only runs get first) hands the same audio on:
    the features equal a run that decodes in the extractors' own stage."""
    import polars as pl

    from mer_etl import runner
    from mer_etl.pipeline import RunConfig, run

    plain = runner.stage_groups
    monkeypatch.setattr(runner, "stage_groups",
                        lambda exs, decodes: [[], *plain(exs, decodes)])
    cfg, ref = demo_run
    result = run(RunConfig(corpora=cfg.corpora, roots=cfg.roots, out=str(tmp_path), name="demo",
                           shard_size=cfg.shard_size))
    assert result.version == ref.version
    read = lambda r: pl.read_parquet(f"{r.path}/features/egemaps/*.parquet").sort("utt_id")  # noqa: E731
    assert read(result).equals(read(ref))
