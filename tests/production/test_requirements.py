"""requirements/*.in name the dependencies; requirements/*.txt pin them, with hashes (`make requirements`).

Fast: the files are read, nothing is installed. The production-install check next to this file
installs production.txt alone and runs the Procfile with it.
"""

import importlib.metadata
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.production.prod_venv import requirement_pins

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements"
FILES = ("base", "production", "dev")


def _in_requirements(path: Path) -> list[Requirement]:
    """What an .in file asks for, with the files it includes (-r); constraints (-c) ask for nothing."""
    found = []
    for line in path.read_text().splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line or line.startswith(("-c ", "--constraint")):
            continue
        if line.startswith(("-r ", "--requirement")):
            found += _in_requirements(path.parent / line.split(None, 1)[1])
            continue
        assert not line.startswith("-"), f"{path.name}: an option the check does not know: {line}"
        found.append(Requirement(line))
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_requirement_of_the_in_file_is_pinned_with_hashes(name):
    pins = requirement_pins(REQUIREMENTS / f"{name}.txt")
    wanted = _in_requirements(REQUIREMENTS / f"{name}.in")
    assert wanted
    for requirement in wanted:
        key = canonicalize_name(requirement.name)
        assert key in pins, f"{name}.in asks for {requirement.name}; {name}.txt has no pin (make requirements)"
        version, hashes = pins[key]
        assert requirement.specifier.contains(version, prereleases=True), f"{name}.txt: {key}=={version}"
    for key, (version, hashes) in pins.items():
        assert hashes, f"{name}.txt pins {key}=={version} without a hash"
    header = (REQUIREMENTS / f"{name}.txt").read_text().splitlines()[:2]
    assert "--generate-hashes" in header[1] and f"requirements/{name}.in -o requirements/{name}.txt" in header[1]


@pytest.mark.parametrize("name", FILES)
def test_extras_bring_their_own_requirements(name):
    """celery[redis] must pin what the extra needs, down its chain (kombu[redis] needs packaging).

    The extras' requirements are read from the installed metadata of the development venv, whose
    pins are production's (asserted below)."""
    pins = requirement_pins(REQUIREMENTS / f"{name}.txt")
    todo = [
        (canonicalize_name(r.name), extra) for r in _in_requirements(REQUIREMENTS / f"{name}.in") for extra in r.extras
    ]
    seen = set()
    while todo:
        package, extra = todo.pop()
        if (package, extra) in seen:
            continue
        seen.add((package, extra))
        for text in importlib.metadata.requires(package) or []:
            requirement = Requirement(text)
            if not requirement.marker or not requirement.marker.evaluate({"extra": extra}):
                continue
            if requirement.marker.evaluate({"extra": ""}):
                continue  # not the extra's: a plain requirement under an environment marker
            key = canonicalize_name(requirement.name)
            assert key in pins, f"{name}.txt lacks {key}, needed by {package}[{extra}]"
            assert requirement.specifier.contains(pins[key][0], prereleases=True), (package, extra, requirement)
            todo += [(key, sub) for sub in requirement.extras]
    # The broker is Redis: Celery's own extra for it, not celery and redis side by side (issue #11).
    assert {("celery", "redis"), ("kombu", "redis")} <= seen, f"{name}.in must ask for celery[redis]"


@pytest.mark.parametrize(("smaller", "larger"), [("production", "dev"), ("base", "production")])
def test_each_file_pins_the_previous_exactly(smaller, larger):
    """What production installs is what the tests ran with: the same versions, the same hashes."""
    small, large = requirement_pins(REQUIREMENTS / f"{smaller}.txt"), requirement_pins(REQUIREMENTS / f"{larger}.txt")
    missing = sorted(set(small) - set(large))
    assert not missing, f"{larger}.txt lacks {missing}, which {smaller}.txt pins"
    differ = {key: (small[key][0], large[key][0]) for key in small if small[key][0] != large[key][0]}
    assert not differ, f"{smaller}.txt and {larger}.txt pin different versions: {differ}"
    hashes = sorted(key for key in small if small[key][1] != large[key][1])
    assert not hashes, f"{smaller}.txt and {larger}.txt list different hashes for {hashes}"
