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
