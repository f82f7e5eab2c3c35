"""The bench's warm-up before a scenario's CPU sample and gunicorn's heartbeat directory."""

from __future__ import annotations

import os
import runpy
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.run import warm_up

ROOT = Path(__file__).resolve().parent.parent.parent


def test_warm_up_sends_one_request_per_user_and_round() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                seen.append(self.headers.get("Authorization", ""))
            self.send_response(200 if len(seen) % 2 else 500)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/x"
        answered = warm_up(url, {"Authorization": "Token k"}, users=3, rounds=2)
    finally:
        server.shutdown()
        server.server_close()
    # Every request answered counts, an error status too; the scenario's headers are sent.
    assert answered == 6
    assert seen == ["Token k"] * 6
    assert warm_up("http://127.0.0.1:9/refused", {}, users=2, rounds=1) == 0


def test_gunicorn_keeps_its_heartbeat_in_memory_where_it_can(monkeypatch) -> None:
    monkeypatch.delenv("GUNICORN_WORKER_TMP_DIR", raising=False)
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    shm = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    assert conf["worker_tmp_dir"] == ("/dev/shm" if shm else None)
    monkeypatch.setenv("GUNICORN_WORKER_TMP_DIR", "/var/tmp/x")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["worker_tmp_dir"] == "/var/tmp/x"
