from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local test cluster needs no tokens
# the media hash cache of this test session only: nothing read from or left in ~/.cache
os.environ["MER_ETL_CACHE"] = tempfile.mkdtemp(prefix="mer-etl-cache-")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The S3 tests talk to a real S3-compatible server (moto's server mode) on loopback. fsspec
# reads FSSPEC_S3_* into S3FileSystem's arguments; these are set before Ray starts so its
# workers inherit them, exactly as a user's cluster inherits its credentials.
S3_PORT = _free_port()
os.environ["FSSPEC_S3_ENDPOINT_URL"] = f"http://127.0.0.1:{S3_PORT}"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server as a separate process on 127.0.0.1; stopped after the session."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(S3_PORT)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", S3_PORT), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    yield os.environ["FSSPEC_S3_ENDPOINT_URL"]
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray for the whole session; the pipeline reuses a running Ray."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def demo_corpus(tmp_path_factory) -> Path:
    from mer_etl.demo import generate

    root = tmp_path_factory.mktemp("demo") / "RAVDESS"
    generate(root)
    return root


@pytest.fixture(scope="session")
def demo_run(demo_corpus, tmp_path_factory, ray_local):
    from mer_etl.pipeline import RunConfig, run

    out = tmp_path_factory.mktemp("out")
    cfg = RunConfig(corpora=["ravdess"], roots=[str(demo_corpus)], out=str(out), name="demo",
                    shard_size=8)
    return cfg, run(cfg)
