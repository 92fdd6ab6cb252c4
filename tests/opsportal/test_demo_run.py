"""``make run``'s outside systems: a demo deploy_info.json, the local Docker engine when it answers, what to set.

The reachable-engine case runs on the wallet ops tests' private engine: tests/walletops/test_demo_docker.py.
"""

import json
from pathlib import Path

from scripts.run_portal import demo_setup
from walletops.deploy_info import deploy_info_read


def test_the_demo_writes_a_deploy_info_the_deploy_panel_reads_and_points_the_setting_at_it(tmp_path):
    added, said = demo_setup({}, tmp_path, docker_socket=tmp_path / "no-docker.sock")
    path = Path(added["WALLETOPS_DEPLOY_INFO_PATH"])
    assert path == tmp_path / "demo-deploy_info.json"
    info = deploy_info_read(path)  # the reader's own validation: the shape the post-deploy hook writes
    assert info["current_tag"].startswith("demo-") and len(info["commit_sha"]) in (40, len("unknown"))
    assert any(str(path) in line for line in said)


def test_an_operators_own_deploy_info_is_kept(tmp_path):
    added, said = demo_setup({"WALLETOPS_DEPLOY_INFO_PATH": "/srv/deploy_info.json"}, tmp_path,
                             docker_socket=tmp_path / "no.sock")  # fmt: skip
    assert "WALLETOPS_DEPLOY_INFO_PATH" not in added and not (tmp_path / "demo-deploy_info.json").exists()
    assert "Deploy panel: reads WALLETOPS_DEPLOY_INFO_PATH=/srv/deploy_info.json." in said


def test_without_a_local_engine_the_startup_output_names_the_setting(tmp_path):
    _, said = demo_setup({}, tmp_path, docker_socket=tmp_path / "no-docker.sock")
    containers = next(line for line in said if line.startswith("Containers panel"))
    assert "no Docker engine answers" in containers and "WALLETOPS_DOCKER_HOSTS" in containers
    hosts = next(line for line in said if line.startswith("Hosts panel"))
    assert "WALLET_CORE_OPS_PROMETHEUS_URL" in hosts and "/admin/ops/docs/configuration/#configuration" in hosts


def test_a_set_docker_host_is_not_probed(tmp_path):
    _, said = demo_setup({"WALLETOPS_DOCKER_HOSTS": "staging=tcp://10.0.0.9:2375"}, tmp_path,
                         docker_socket=tmp_path / "no.sock")  # fmt: skip
    assert "Containers panel: the engines of WALLETOPS_DOCKER_HOSTS." in said


def test_the_demo_deploy_info_is_valid_json_with_every_field(tmp_path):
    demo_setup({}, tmp_path, docker_socket=tmp_path / "no.sock")
    data = json.loads((tmp_path / "demo-deploy_info.json").read_text())
    assert set(data) == {"current_tag", "previous_tag", "commit_sha", "deployed_by", "deployed_at"}
    assert data["deployed_at"].endswith("Z")


def test_a_restart_of_the_same_commit_keeps_the_demo_deploy_so_no_new_deploy_is_announced(tmp_path):
    added, _ = demo_setup({}, tmp_path, docker_socket=tmp_path / "no.sock")
    path = Path(added["WALLETOPS_DEPLOY_INFO_PATH"])
    first = path.read_text()
    data = json.loads(first)
    data["deployed_at"] = "2026-01-01T00:00:00Z"  # as if written at an earlier start
    path.write_text(json.dumps(data))
    again, said = demo_setup({}, tmp_path, docker_socket=tmp_path / "no.sock")
    assert again["WALLETOPS_DEPLOY_INFO_PATH"] == str(path)
    assert json.loads(path.read_text())["deployed_at"] == "2026-01-01T00:00:00Z"
    assert any("kept" in line and "same commit" in line for line in said)


def test_a_new_commit_is_a_new_demo_deploy(tmp_path):
    path = tmp_path / "demo-deploy_info.json"
    path.write_text(json.dumps({"commit_sha": "0" * 40, "deployed_at": "2026-01-01T00:00:00Z"}))
    demo_setup({}, tmp_path, docker_socket=tmp_path / "no.sock")
    data = json.loads(path.read_text())
    assert data["commit_sha"] != "0" * 40 and data["deployed_at"] != "2026-01-01T00:00:00Z"


# A child of the supervisor that notes, when told to stop, its name and whether the feed server still runs.
_CHILD = """
import os, signal, sys, time
name, log, feeds_pidfile = sys.argv[1], sys.argv[2], sys.argv[3]
if name == "feeds":
    open(feeds_pidfile, "w").write(str(os.getpid()))
def stopped(*_):
    feeds_alive = True
    try:
        os.kill(int(open(feeds_pidfile).read()), 0)
    except (OSError, ValueError):
        feeds_alive = False
    with open(log, "a") as out:
        out.write(f"{name} {feeds_alive}\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stopped)
open(log + "." + name, "w").write("ready")
while True:
    time.sleep(0.1)
"""


def _wait_for(predicate, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_supervisor_stops_the_worker_first_and_the_feed_server_last(tmp_path):
    import sys

    from scripts.run_portal import start_processes, stop_in_order

    log, pidfile = tmp_path / "stops.log", tmp_path / "feeds.pid"
    names = ["feeds", "web", "worker", "beat"]  # started in make run's order
    commands = {name: [sys.executable, "-c", _CHILD, name, str(log), str(pidfile)] for name in names}
    processes = start_processes(commands, env=dict(__import__("os").environ))
    try:
        _wait_for(lambda: all(Path(f"{log}.{name}").exists() for name in names))
        stop_in_order(processes)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
    assert log.read_text().splitlines() == ["worker True", "beat True", "web True", "feeds True"]


def test_ctrl_c_reaches_the_supervisor_only_not_its_children(tmp_path):
    """The terminal sends SIGINT to its foreground group: the children are outside it, so none dies before
    the supervisor stops them in order."""
    import os
    import signal
    import subprocess
    import sys

    log, pidfile, said = tmp_path / "stops.log", tmp_path / "feeds.pid", tmp_path / "supervisor.txt"
    # SIGINT as a terminal's foreground job has it (a CI shell may start us with it ignored); what the
    # supervisor says goes to a file, so no child holding a pipe open can keep the test waiting.
    supervisor = (
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from scripts.run_portal import start_processes\n"
        f"p = start_processes({{'feeds': [sys.executable, '-c', {_CHILD!r}, 'feeds', {str(log)!r}, {str(pidfile)!r}]}},"
        " env=dict(os.environ))\n"
        f"said = open({str(said)!r}, 'a', buffering=1)\n"
        "said.write(f'{p[\"feeds\"].pid}\\n')\n"
        "try:\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    said.write('interrupted\\n')\n"
    )
    root = Path(__file__).resolve().parents[2]
    group = subprocess.Popen([sys.executable, "-c", supervisor], cwd=root, stdout=subprocess.DEVNULL,
                             start_new_session=True)  # fmt: skip
    child = None
    try:
        _wait_for(lambda: said.exists() and said.read_text().endswith("\n") and Path(f"{log}.feeds").exists())
        child = int(said.read_text().split()[0])
        os.killpg(group.pid, signal.SIGINT)  # what Ctrl-C does to the terminal's foreground group
        _wait_for(lambda: "interrupted" in said.read_text())
        group.wait(timeout=60)
        os.kill(child, 0)  # still running: it did not get the SIGINT
        assert not log.exists()
    finally:
        if child is not None:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        if group.poll() is None:
            group.kill()
