"""``make run`` uses the local Docker engine when its socket answers, and says so (on this folder's private engine)."""

from pathlib import Path

import pytest

from scripts.run_portal import demo_setup, docker_engine_version


@pytest.mark.postgres_only  # a real Docker engine (the wallet ops tests' private one)
def test_a_reachable_local_engine_is_used_and_said_so(tmp_path, fleet):
    socket = Path(fleet.staging_url.removeprefix("unix://"))
    assert docker_engine_version(fleet.staging_url)
    added, said = demo_setup({}, tmp_path, docker_socket=socket)
    containers = next(line for line in said if line.startswith("Containers panel"))
    assert f"the local Docker engine at {socket} answers (Docker " in containers
    assert "WALLETOPS_DOCKER_HOSTS" not in added  # the settings' default is the local engine already
