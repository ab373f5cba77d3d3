"""The lab's webhook receiver: an HTTP server on the controller that keeps every payload
Alertmanager posts, one JSON file per request, in a directory per path.

Alertmanager on ``obs`` posts to it through the lab's webhook receivers (their URLs are the
lab's secrets ``alertmanager_receiver_<name>``); tests read what arrived with
``WebhookSpool``.

Example::

    from pathlib import Path
    from obslab.webhookcatcher import WebhookCatcher, WebhookSpool
    with WebhookCatcher("127.0.0.1", 8025, Path("/tmp/hooks")):
        ...  # curl -d '{"status": "firing"}' http://127.0.0.1:8025/lab-hook
    WebhookSpool(Path("/tmp/hooks")).payloads("lab-hook")  # [(1796..., {"status": "firing"})]
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# A receiver's path: one name, which is also the spool's directory, and a query the
# catcher ignores (a token that makes a URL secret, as real webhook URLs are).
PATH = re.compile(r"/([a-z0-9][a-z0-9_-]{0,62})(\?[A-Za-z0-9_=-]{0,200})?")
MAX_BODY = 4 * 1024 * 1024
KEPT = 1000  # payloads kept per path


class WebhookCatcher:
    """Serve in a thread while in a ``with`` block; POST /NAME stores the body."""

    def __init__(self, address: str, port: int, spool: Path) -> None:
        spool.mkdir(parents=True, exist_ok=True)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                match = PATH.fullmatch(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                if not match or not 0 < length <= MAX_BODY:
                    self.send_error(400)
                    return
                body = self.rfile.read(length)
                try:
                    json.loads(body)
                except ValueError:
                    self.send_error(400, "not JSON")
                    return
                _store(spool / match.group(1), body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the spool is the record (the heartbeat posts every few seconds)."""

        self.server = ThreadingHTTPServer((address, port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookCatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _store(directory: Path, body: bytes) -> None:
    """Write ``body`` under its arrival time, a reader never seeing a partial file; keep
    the newest ``KEPT`` (the heartbeat posts all day long)."""
    directory.mkdir(exist_ok=True)
    name = f"{time.time_ns()}-{threading.get_ident()}"
    partial = directory / f".{name}.partial"
    partial.write_bytes(body)
    os.replace(partial, directory / f"{name}.json")
    for old in sorted(directory.glob("*.json"))[:-KEPT]:
        old.unlink(missing_ok=True)


class WebhookSpool:
    """The payloads the catcher stored, oldest first, with their arrival times (ns)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def payloads(self, name: str, since_ns: int = 0) -> list[tuple[int, dict]]:
        arrivals = sorted(
            (int(path.name.split("-")[0]), path) for path in (self.directory / name).glob("*.json")
        )
        return [
            (arrived, json.loads(path.read_bytes()))
            for arrived, path in arrivals
            if arrived >= since_ns
        ]

    def wait_for(
        self,
        name: str,
        found: Callable[[dict], bool],
        timeout: float,
        since_ns: int = 0,
    ) -> tuple[int, dict] | None:
        """The first payload to ``name`` since ``since_ns`` that ``found`` accepts, with its
        arrival time, waiting up to ``timeout`` seconds for it; None if none came."""
        deadline = time.monotonic() + timeout
        while True:
            for arrived, payload in self.payloads(name, since_ns):
                if found(payload):
                    return arrived, payload
            if time.monotonic() > deadline:
                return None
            time.sleep(0.5)
