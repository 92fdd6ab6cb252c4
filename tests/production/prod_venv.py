"""The production virtualenv: ``requirements/production.txt`` alone, installed as the Dockerfile does.

``python3.11 -m venv`` + ``pip install --require-hashes -r requirements/production.txt`` and nothing
else (no pytest, no dev tools), so an import that only works because a development package happens
to be installed fails here as it would in the image. The project is run from the checkout with that
venv's python (cwd and PYTHONPATH = the checkout), as the image runs /app with /opt/venv.

The venv is cached outside the work tree, in ``$XDG_CACHE_HOME/opsportal`` (``~/.cache/opsportal``),
under a name made of a hash of what went into it (the requirement files and the interpreter's
version): a change of pins builds a new one, reruns reuse it. A marker file written last says a
venv is complete; one without it (a build that was interrupted) is removed and built again. A file
lock keeps two pytest processes from building the same venv at once. Older venvs are removed when
a new one has been built.

``OPSPORTAL_PROD_VENV=/path/to/venv`` uses that venv as it is instead (e.g. one built from other pins).

    python -m tests.production.prod_venv      # build (or find) it and print its path
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements" / "production.txt"
MARKER = ".opsportal-complete"
PREFIX = "prod-venv-"


class VenvBuildFailed(Exception):
    pass


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "opsportal"


def base_python() -> str:
    """The interpreter itself (not the development venv's python): what ``python3.11 -m venv`` runs."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _closure(path: Path) -> list[Path]:
    """The requirement file and every file it includes with -r / -c, recursively."""
    seen: list[Path] = []

    def visit(file: Path) -> None:
        file = file.resolve()
        if file in seen:
            return
        seen.append(file)
        for line in file.read_text().splitlines():
            match = re.match(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)", line)
            if match:
                visit(file.parent / match.group(1))

    visit(path)
    return seen


def requirement_pins(path: Path) -> dict[str, tuple[str, set[str]]]:
    """A compiled requirement file's pins: canonical name -> (version, its hashes)."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        pin = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)", line)
        if pin:
            current = canonicalize_name(pin.group(1))
            assert current not in pins, f"{path.name} pins {current} twice"
            pins[current] = (pin.group(3), set())
            continue
        digest = re.match(r"^\s+--hash=(sha256:[0-9a-f]{64})", line)
        if digest:
            pins[current][1].add(digest.group(1))
            continue
        assert not line.strip() or line.lstrip().startswith("#"), f"{path.name}: not a pin, hash or comment: {line}"
    return pins


def venv_key(requirements: Path, python: str) -> str:
    digest = hashlib.sha256()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version)"], capture_output=True, text=True, check=True
    ).stdout
    digest.update(version.encode())
    for file in _closure(requirements):
        digest.update(file.name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _build(venv: Path, requirements: Path, python: str, log: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    with log.open("w") as out:
        steps = [
            [python, "-m", "venv", str(venv)],
            [
                str(venv_python(venv)), "-m", "pip", "install", "--require-hashes", "--no-input",
                "--disable-pip-version-check", "-r", str(requirements),
            ],
        ]  # fmt: skip
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            result = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, cwd=requirements.parent)
            if result.returncode != 0:
                out.close()
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise VenvBuildFailed(
                    f"building the production venv failed ({' '.join(step[2:5])}... exited {result.returncode}); "
                    f"pip installs {requirements} from PyPI (or the index pip is configured for): no network? "
                    f"Full log: {log}\n{tail}"
                )
    freeze = subprocess.run(
        [str(venv_python(venv)), "-m", "pip", "freeze", "--disable-pip-version-check"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (venv / MARKER).write_text(f"built from {requirements}\n{freeze.stdout}")


def _remove_older(cache: Path, keep: Path) -> None:
    """Remove the other cached production venvs that nobody is using (their lock is free)."""
    for other in cache.glob(f"{PREFIX}*"):
        if other == keep or not other.is_dir():
            continue
        lock_path = other.with_name(other.name + ".lock")
        with lock_path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(other, ignore_errors=True)
            other.with_name(other.name + ".log").unlink(missing_ok=True)  # the lock file stays: it is a few bytes


@contextlib.contextmanager
def production_venv(requirements: Path = REQUIREMENTS, *, cache: Path | None = None):
    """Yield the venv's path and how long building it took (None: it was already there).

    While in use the venv's lock is held shared, so no other process removes it as an older one.
    """
    given = os.environ.get("OPSPORTAL_PROD_VENV")
    if given:
        venv = Path(given).resolve()
        if not venv_python(venv).exists():
            raise VenvBuildFailed(f"OPSPORTAL_PROD_VENV={given}: no {venv_python(venv)}")
        yield venv, None
        return
    python = base_python()
    cache = cache or cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    venv = cache / f"{PREFIX}{venv_key(requirements, python)}"
    seconds = None
    with venv.with_name(venv.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be building it: wait for it
        if not ((venv / MARKER).exists() and venv_python(venv).exists()):
            started = time.monotonic()
            _build(venv, requirements, python, cache / f"{venv.name}.log")
            seconds = time.monotonic() - started
        fcntl.flock(lock, fcntl.LOCK_SH)
        if seconds is not None:
            _remove_older(cache, venv)
        yield venv, seconds


if __name__ == "__main__":
    try:
        with production_venv() as (path, built_in):
            print(path, f"(built in {built_in:.0f} s)" if built_in is not None else "(cached)")
    except VenvBuildFailed as failure:
        sys.exit(str(failure))
