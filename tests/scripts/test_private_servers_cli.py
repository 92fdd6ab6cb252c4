"""``python -m scripts.servers.redis start DIR`` / ``stop DIR``: a private server left running for ``make run``-like
use, stopped by the pid it wrote (the command line the private servers share: scripts/servers/process.py)."""

import subprocess
import sys
import time

import redis


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "scripts.servers.redis", *args], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip


def test_a_private_redis_starts_outlives_its_command_and_stops_by_its_pid(tmp_path):
    started = _cli("start", str(tmp_path))
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        assert client.ping()  # still up after the command that started it has exited
        assert (tmp_path / "pid").read_text().strip().isdigit()
        assert _cli("stop", str(tmp_path)).returncode == 0
        assert not (tmp_path / "pid").exists()
        stopped_by = time.monotonic() + 30
        while True:  # the server's exit, as a client sees it: the port refuses
            try:
                client.ping()
            except redis.ConnectionError:
                break
            assert time.monotonic() < stopped_by, "the server still answers 30 s after stop"
            client.connection_pool.disconnect()
            time.sleep(0.05)
    finally:
        client.close()


def test_a_wrong_command_line_prints_the_usage():
    wrong = _cli("restart")
    assert wrong.returncode == 2 and "start" in wrong.stderr
