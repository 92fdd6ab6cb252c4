"""The local folders of the embedded defaults (``make run``): the SQLite file's and the folder broker's.

Created when the project starts (``OpsAdminConfig.ready``: web, worker, beat and commands all set
Django up), never when the settings are imported: importing settings has no side effect.
"""

from __future__ import annotations

from pathlib import Path

BROKER_FOLDER_OPTIONS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def local_folders_ensure(settings) -> list[Path]:
    """Make the folders the configured SQLite database and folder broker write to; the ones made or found."""
    folders = []
    database = settings.DATABASES["default"]
    name = str(database.get("NAME") or "")
    if database["ENGINE"] == "django.db.backends.sqlite3" and name and name != ":memory:" and "mode=memory" not in name:
        folders.append(Path(name).parent)
    if str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("filesystem://"):
        options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
        folders += [Path(options[key]) for key in BROKER_FOLDER_OPTIONS if options.get(key)]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    return folders
