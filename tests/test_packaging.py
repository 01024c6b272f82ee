"""The built wheel (not the source tree, not the editable install) carries everything the bot needs.

Builds a non-editable wheel from a clean copy of the checkout (so stale ``build/`` output can't leak in),
then checks its contents and entry points, and finally installs it with ``pip --target`` and loads every
``meetbot.plugins`` entry point from there in a subprocess.

Expected contents are derived from the filesystem: a plugin directory, template or migration that someone
adds without updating setup.cfg makes these tests fail.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path, PurePosixPath

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

# Source directory -> the import name it is installed as (setup.cfg [options] package_dir).
PACKAGE_DIRS = {"meetbot": "meetbot", "plugins": "meetbot_plugins", "alembic": "meetbot_alembic"}
# Top-level names that must never appear in the wheel: "plugins"/"alembic" would shadow other
# distributions (alembic is a dependency!), and tests/bench/scripts are not part of the product.
FORBIDDEN_TOP_LEVEL = {"plugins", "alembic", "tests", "bench", "scripts", "build"}

_IGNORE_ANYWHERE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".cache",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
)
# Build output and the bot's own run output (./minutes, ./meetbot.db, ./meetbot.yaml).
_IGNORE_AT_ROOT = shutil.ignore_patterns("build", "dist", "minutes", "*.db", "*.db-*", "meetbot.yaml")


def _copy_ignore(directory: str, names: list[str]) -> set[str]:
    ignored = set(_IGNORE_ANYWHERE(directory, names))
    if Path(directory).resolve() == ROOT:
        ignored |= _IGNORE_AT_ROOT(directory, names)
    return ignored


@dataclass(frozen=True)
class Wheel:
    path: Path
    names: frozenset[str]

    def read_text(self, suffix: str) -> str:
        with zipfile.ZipFile(self.path) as zf:
            (member,) = [n for n in zf.namelist() if n.endswith(suffix)]
            return zf.read(member).decode()


def _source_files(subdir: str, pattern: str = "*") -> list[Path]:
    base = ROOT / subdir
    return sorted(
        p
        for p in base.rglob(pattern)
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".") and p.suffix != ".pyc"
    )


def _wheel_name(src: Path) -> str:
    """plugins/meeting/plugin.py -> meetbot_plugins/meeting/plugin.py"""
    rel = src.relative_to(ROOT)
    return str(PurePosixPath(PACKAGE_DIRS[rel.parts[0]], *rel.parts[1:]))


def bundled_plugins() -> list[str]:
    """Every directory under plugins/ that has a plugin.py."""
    return sorted(p.parent.name for p in (ROOT / "plugins").glob("*/plugin.py"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Wheel:
    try:
        setuptools_version = version("setuptools")
    except PackageNotFoundError:
        pytest.fail("setuptools is not installed in the test environment (scripts/test.sh installs it)")
    assert int(setuptools_version.split(".")[0]) >= 68, f"setuptools {setuptools_version} < 68"

    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=_copy_ignore)
    out = tmp / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q", "-w", out],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}"
    (path,) = out.glob("meetbot-*.whl")
    with zipfile.ZipFile(path) as zf:
        names = frozenset(zf.namelist())
    return Wheel(path, names)


def test_there_are_bundled_plugins() -> None:
    assert bundled_plugins(), "no plugins/<name>/plugin.py found"


def test_wheel_contains_every_plugin(wheel: Wheel) -> None:
    missing = [n for n in bundled_plugins() if f"meetbot_plugins/{n}/plugin.py" not in wheel.names]
    assert not missing, f"plugins missing from the wheel (add them to setup.cfg packages): {missing}"


def test_wheel_contains_every_python_source_file(wheel: Wheel) -> None:
    # setup.cfg lists packages one by one: a new subpackage that isn't listed silently vanishes.
    expected = [_wheel_name(p) for d in PACKAGE_DIRS for p in _source_files(d, "*.py")]
    missing = sorted(set(expected) - wheel.names)
    assert not missing, f"source files missing from the wheel: {missing}"


def test_wheel_contains_minutes_templates(wheel: Wheel) -> None:
    templates = _source_files("meetbot/minutes/templates")
    assert templates, "meetbot/minutes/templates/ is empty"
    missing = sorted({_wheel_name(p) for p in templates} - wheel.names)
    assert not missing, f"templates missing from the wheel (setup.cfg package_data): {missing}"
    assert "meetbot/py.typed" in wheel.names


def test_wheel_contains_alembic_environment(wheel: Wheel) -> None:
    for name in ("meetbot_alembic/env.py", "meetbot_alembic/script.py.mako"):
        assert name in wheel.names
    migrations = [p for p in _source_files("alembic/versions", "*.py") if p.name != "__init__.py"]
    assert migrations, "alembic/versions/ has no migrations"
    missing = sorted({_wheel_name(p) for p in migrations} - wheel.names)
    assert not missing, f"migrations missing from the wheel: {missing}"


def test_wheel_has_no_stray_top_level_packages(wheel: Wheel) -> None:
    top = {n.split("/", 1)[0] for n in wheel.names}
    assert not top & FORBIDDEN_TOP_LEVEL, sorted(top)


class _CaseSensitiveParser(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:  # entry point names are case-sensitive
        return optionstr


def _entry_points(wheel: Wheel) -> configparser.ConfigParser:
    cp = _CaseSensitiveParser(delimiters=("=",), interpolation=None)
    cp.read_string(wheel.read_text(".dist-info/entry_points.txt"))
    return cp


def test_entry_points_register_every_plugin_and_the_cli(wheel: Wheel) -> None:
    eps = _entry_points(wheel)
    assert eps.get("console_scripts", "meetbot", fallback=None) == "meetbot.cli:main"
    assert eps.has_section("meetbot.plugins"), "no [meetbot.plugins] entry points"
    registered = {value.strip().split(":", 1)[0] for value in eps["meetbot.plugins"].values()}
    unregistered = [
        n
        for n in bundled_plugins()
        if not any(m == f"meetbot_plugins.{n}" or m.startswith(f"meetbot_plugins.{n}.") for m in registered)
    ]
    assert not unregistered, (
        f"not registered in setup.cfg [options.entry_points] meetbot.plugins: {unregistered}"
    )


LOAD_ENTRY_POINTS = """
import importlib.metadata as md, inspect, json, sys
(dist,) = [d for d in md.distributions(path=[sys.argv[1]]) if d.metadata["Name"] == "meetbot"]
found = {}
for ep in dist.entry_points.select(group="meetbot.plugins"):
    obj = ep.load()
    found[ep.name] = inspect.getmodule(obj).__file__
import meetbot
found["(meetbot package)"] = meetbot.__file__
print(json.dumps(found))
"""


def test_installed_wheel_provides_every_plugin(wheel: Wheel, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-compile",
            "-q",
            "--target",
            str(target),
            str(wheel.path),
        ],
        check=True,
        timeout=300,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    # cwd outside the checkout, so neither the source tree nor the editable install can answer first.
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_ENTRY_POINTS, str(target)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"loading entry points failed:\n{proc.stderr}"
    found: dict[str, str] = json.loads(proc.stdout)
    plugins = {k: v for k, v in found.items() if k != "(meetbot package)"}
    assert len(plugins) >= len(bundled_plugins()), found
    outside = {k: v for k, v in found.items() if not Path(v).resolve().is_relative_to(target.resolve())}
    assert not outside, f"loaded from outside the installed wheel ({target}): {outside}"
