"""A real ZooKeeper for tests: Debian's ``zookeeper`` package, started on a free loopback
port with its own data directory (``./scripts/test`` installs the package)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

JAR = Path("/usr/share/java/zookeeper.jar")
MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ZooKeeper:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        (base / "data").mkdir(parents=True, exist_ok=True)
        (base / "conf").mkdir(exist_ok=True)
        (base / "conf" / "zoo.cfg").write_text(
            "tickTime=200\n"
            "minSessionTimeout=400\n"
            "maxSessionTimeout=60000\n"
            f"dataDir={base / 'data'}\n"
            f"clientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\n"
            "admin.enableServer=false\n"
            "4lw.commands.whitelist=*\n"
        )
        (base / "conf" / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, F\n"
            "log4j.appender.F=org.apache.log4j.FileAppender\n"
            f"log4j.appender.F.File={base / 'zookeeper.log'}\n"
            "log4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.F.layout.ConversionPattern=%d %p %c: %m%n\n"
        )

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        if not JAR.exists():
            raise AssertionError(f"{JAR} is missing: ./scripts/test installs the Debian package")
        out = open(self.base / "stdout.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                "java",
                "-Xmx256m",
                "-cp",
                f"{self.base / 'conf'}:{JAR}",
                MAIN,
                str(self.base / "conf" / "zoo.cfg"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"ZooKeeper exited: {(self.base / 'stdout.log').read_text()[-2000:]}"
                )
            if self.ruok():
                return
            time.sleep(0.2)
        raise AssertionError("ZooKeeper did not answer 'ruok' in time")

    def ruok(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"ruok")
                return s.recv(4) == b"imok"
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
