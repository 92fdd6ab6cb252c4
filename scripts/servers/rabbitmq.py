"""A private RabbitMQ node on free loopback ports, for tests, benchmarks and demos.

    python -m scripts.servers.rabbitmq start var/rabbitmq   # prints the amqp:// URL
    python -m scripts.servers.rabbitmq stop var/rabbitmq

Debian's ``rabbitmq-server`` (3.10) started by hand, not as the system service: its own AMQP and
Erlang distribution ports, node name, Mnesia and log folders, config and cookie, all under ``root``.
epmd (the Erlang port mapper) is shared by every node of the machine, so the node name carries the
AMQP port to be unique. No plugin is enabled (no management API: queue depths come over AMQP).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from scripts.servers.postgres import ServerUnavailable, free_port
from scripts.servers.process import start_stop_main

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the script itself: /usr/sbin's wrapper switches user


class PrivateRabbitMQ:
    def __init__(self, root: Path, port: int | None = None):
        self.root = Path(root).resolve()
        self.port = port or free_port()
        self.dist_port = free_port()
        if not SERVER.exists():
            raise ServerUnavailable(f"RabbitMQ is not installed (no {SERVER}); run make services as root")
        self.node = f"opsportal-{self.port}@localhost"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def environment(self) -> dict[str, str]:
        """The server's environment (and the CLI tools', which need the same cookie and node name)."""
        home = self.root / "home"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(home),  # the Erlang cookie is $HOME/.erlang.cookie, for the node and the CLI alike
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbitmq.pid"),
        }

    def _prepare(self) -> None:
        home = self.root / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(os.urandom(16).hex().upper())
            cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = {self.port}\n"
            "log.console = false\n"
            "log.file.level = warning\n"
            # A test machine's disk may be nearly full; the default 50 MB limit would block publishers.
            "disk_free_limit.absolute = 1MB\n"
        )
        (self.root / "advanced.config").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "enabled_plugins").write_text("[].\n")

    def start(self, timeout: float = 60.0) -> str:
        self._prepare()
        self.process = subprocess.Popen(
            [str(SERVER)],
            env=self.environment(),
            stdout=(self.root / "server.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the shell script and the Erlang VM: stopped together (their group)
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if self._answers():
                (self.root / "pid").write_text(str(self.process.pid))
                return self.url
            time.sleep(0.2)
        self.stop()
        raise ServerUnavailable(f"RabbitMQ did not start: {self._log_tail()}")

    def _answers(self) -> bool:
        """The node has booted: a client logs in (the AMQP listener opens before the boot ends)."""
        import amqp

        try:
            connection = amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=1)
            connection.connect()
            connection.close()
            return True
        except (OSError, amqp.exceptions.AMQPError):
            return False

    def queues(self) -> dict[str, str]:
        """Every queue of the default vhost and its type: ``{name: "quorum"}`` (rabbitmqctl).

        Its message counts lag (the node publishes queue stats every few seconds): ``depths`` asks over AMQP.
        """
        import json

        result = subprocess.run(
            [str(SERVER.parent / "rabbitmqctl"), "--quiet", "list_queues", "--formatter", "json", "name", "type"],
            env=self.environment(), capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return {row["name"]: row["type"] for row in json.loads(result.stdout)}

    def depths(self, names) -> dict[str, int]:
        """Messages ready in each named queue that exists, now (a passive declare each)."""
        import amqp

        depths = {}
        with amqp.Connection(f"127.0.0.1:{self.port}", connect_timeout=5) as connection:
            for name in names:
                channel = connection.channel()
                try:
                    depths[name] = channel.queue_declare(name, passive=True).message_count
                    channel.close()
                except amqp.exceptions.NotFound:
                    pass  # the 404 closed the channel
        return depths

    def _log_tail(self) -> str:
        logs = [self.root / "server.log", *sorted((self.root / "log").glob("*.log"))]
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the group (the VM stops gracefully on it), SIGKILL what is left after ``timeout``."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        _signal_group(self.process.pid, signal.SIGKILL)  # the VM, if the script went first
        self.process.wait(timeout=10)
        self.process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def main(argv: list[str]) -> int:
    return start_stop_main(argv, usage=__doc__, server=PrivateRabbitMQ,
                           stop=lambda pid: _signal_group(pid, signal.SIGTERM))  # fmt: skip


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
