"""`streamlit run app.py` as a subprocess on a free localhost port, for the browser tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support import ROOT, free_port

START_SECONDS = 60


def launch(env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """The app served on a free port, once it answers: (its process, its URL). `env` adds
    to this process's environment (PLAYGROUND_STATE is set for the whole session by
    tests/conftest.py, so no server stores runs in the real ~/.cache)."""
    app = Path(os.environ.get("PLAYGROUND_APP", ROOT / "app.py"))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})})
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, "streamlit did not start"
            time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(10)
