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
    assert "WALLET_CORE_OPS_PROMETHEUS_URL" in hosts and "/admin/ops/readme/#configuration" in hosts


def test_a_set_docker_host_is_not_probed(tmp_path):
    _, said = demo_setup({"WALLETOPS_DOCKER_HOSTS": "staging=tcp://10.0.0.9:2375"}, tmp_path,
                         docker_socket=tmp_path / "no.sock")  # fmt: skip
    assert "Containers panel: the engines of WALLETOPS_DOCKER_HOSTS." in said


def test_the_demo_deploy_info_is_valid_json_with_every_field(tmp_path):
    demo_setup({}, tmp_path, docker_socket=tmp_path / "no.sock")
    data = json.loads((tmp_path / "demo-deploy_info.json").read_text())
    assert set(data) == {"current_tag", "previous_tag", "commit_sha", "deployed_by", "deployed_at"}
    assert data["deployed_at"].endswith("Z")
