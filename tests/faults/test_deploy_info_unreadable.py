"""Fault: the disk holding ``deploy_info.json`` cannot be read.

Tests run as root, which ignores permission bits, so ``chmod 000`` would prove
nothing. Two real kernel errors stand in for a failing disk instead:

- ``EIO``: the path is a symlink to ``/proc/self/mem``. Opening it succeeds and the
  first read fails with ``OSError(5, 'Input/output error')`` from the kernel (offset
  0 of a process's memory is never mapped), which is exactly what a dying disk or a
  lost network volume returns;
- ``ENOTDIR``: the folder holding the file is a plain file (a volume mounted wrong),
  so the open fails with ``NotADirectoryError``.

The documented answer is 500 ``deploy_info_invalid`` ("unreadable") on ``/deploy-info``
and the same message on the dashboard's deploy panel; both recover, in this same
process, as soon as the file can be read again.
"""

import json
import os
from http import HTTPStatus
from pathlib import Path

import pytest

DEPLOY = "/api/v1/admin/ops/deploy-info"
PANEL = "/admin/ops/panels/deploy/"
INFO = {"current_tag": "v7", "previous_tag": "v6", "commit_sha": "0123abcd", "deployed_by": "ana",
        "deployed_at": "2026-11-23T10:00:00Z"}  # fmt: skip
pytestmark = pytest.mark.django_db


def _write_like_the_hook(path: Path) -> None:
    """What ``walletops/kamal_hooks/post-deploy`` does: a temporary file beside the target, renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(INFO), encoding="utf-8")
    os.replace(temporary, path)


def _break_with_eio(path: Path) -> str:
    if not Path("/proc/self/mem").exists():
        pytest.skip("needs Linux's /proc/self/mem for a real EIO")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/proc/self/mem")
    return "OSError"


def _break_with_enotdir(path: Path) -> str:
    path.parent.rmdir()
    path.parent.write_text("a file where the volume's folder should be")
    return "NotADirectoryError"


def _repair_enotdir(path: Path) -> None:
    path.parent.unlink()
    _write_like_the_hook(path)


@pytest.mark.parametrize(
    ("breaking", "repairing"),
    [(_break_with_eio, _write_like_the_hook), (_break_with_enotdir, _repair_enotdir)],
    ids=["EIO", "ENOTDIR"],
)
def test_an_unreadable_deploy_info_is_500_invalid_then_recovers(
    reader, admin_client, settings, tmp_path, breaking, repairing
):
    path = tmp_path / "volume" / "deploy_info.json"
    settings.WALLETOPS_DEPLOY_INFO_PATH = path
    _write_like_the_hook(path)
    assert reader.get(DEPLOY).json() == INFO
    path.unlink()

    error_name = breaking(path)
    with pytest.raises(OSError):  # the fault is real: the kernel refuses the read
        path.read_text(encoding="utf-8")
    response = reader.get(DEPLOY)
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    expected = f"deploy_info.json is unreadable: {error_name}"
    assert response.json() == {"code": "deploy_info_invalid", "detail": expected}
    panel = admin_client.get(PANEL)
    assert panel.status_code == HTTPStatus.OK
    body = panel.content.decode()
    assert 'role="alert"' in body and f"deploy_info_invalid: {expected}" in body
    assert "Traceback" not in body

    repairing(path)  # the disk is back: the next request reads it, no restart
    assert reader.get(DEPLOY).json() == INFO
    body = admin_client.get(PANEL).content.decode()
    assert 'role="alert"' not in body and "v7" in body and "ana" in body
