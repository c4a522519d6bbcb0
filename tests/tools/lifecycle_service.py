"""A service that logs every endpoint hit and signal, for the graceful-shutdown tests.

    python3 lifecycle_service.py PORT LOG [--quit-exits] [--health BODY]

Answers GET /health with BODY (default "ok"); POST /quitquitquit and /abortabortabort are
logged and, with --quit-exits, make it exit; SIGTERM is logged and ends it.
"""

from __future__ import annotations

import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, LOG = int(sys.argv[1]), sys.argv[2]
QUIT_EXITS = "--quit-exits" in sys.argv
HEALTH = sys.argv[sys.argv.index("--health") + 1] if "--health" in sys.argv else "ok"


def note(line: str) -> None:
    with open(LOG, "a") as fp:
        fp.write(f"{time.time():.3f} {line}\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def reply(self, body: str) -> None:
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        note(f"GET {self.path}")
        self.reply(HEALTH if self.path == "/health" else "hello")

    def do_POST(self) -> None:
        note(f"POST {self.path}")
        self.reply("bye")
        if QUIT_EXITS and self.path in ("/quitquitquit", "/abortabortabort"):
            note("exit")
            signal.raise_signal(signal.SIGUSR1)


def stop(signum: int, frame: object) -> None:
    note(signal.Signals(signum).name)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGUSR1, stop)
note("start")
ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
