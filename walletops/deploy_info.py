"""``deploy_info.json``, written by the Kamal post-deploy hook (``walletops/kamal_hooks/post-deploy``)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from django.conf import settings

from walletops.exceptions import DeployInfoInvalid, DeployInfoMissing

REQUIRED = {"current_tag": str, "commit_sha": str, "deployed_by": str, "deployed_at": str}
OPTIONAL = {"previous_tag": (str, type(None))}


def deploy_info_read(path: Path | None = None) -> dict:
    path = Path(path or settings.WALLETOPS_DEPLOY_INFO_PATH)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DeployInfoMissing(f"{path.name} not found; the post-deploy hook writes it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DeployInfoInvalid(f"{path.name} is unreadable: {type(exc).__name__}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DeployInfoInvalid(f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(data, dict):
        raise DeployInfoInvalid(f"{path.name} is not a JSON object")
    for key, kind in {**REQUIRED, **OPTIONAL}.items():
        if key in REQUIRED and key not in data:
            raise DeployInfoInvalid(f"{path.name} lacks {key}")
        if not isinstance(data.get(key), kind):
            raise DeployInfoInvalid(f"{path.name}: {key} has the wrong type")
    try:
        datetime.fromisoformat(data["deployed_at"].replace("Z", "+00:00"))
    except ValueError:
        raise DeployInfoInvalid(f"{path.name}: deployed_at is not an ISO-8601 time") from None
    return {key: data.get(key) for key in ("current_tag", "previous_tag", "commit_sha", "deployed_by", "deployed_at")}
