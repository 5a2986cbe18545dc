"""The demo's alert channel: a local HTTP endpoint that keeps every message posted to it, one JSON line each.

    python -m demo.receiver --port 5056 --out .demo/notifications.jsonl

The demo's config points each model's `webhook` channel at it through the `demo_alerts` HTTP connection, so what
the pipeline would send to a team (alerts, resolved messages, digests) can be read back.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def serve(port: int, out: Path) -> None:
    class Keep(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                message = json.loads(body)
            except ValueError:
                message = {"raw": body.decode("utf-8", "replace")}
            with _lock, out.open("a") as sink:
                sink.write(json.dumps({"path": self.path, "message": message}) + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Keep).serve_forever()


def read(out: Path) -> list[dict]:
    """Every message received so far."""
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.out)


if __name__ == "__main__":
    main()
