"""``infercore new-backend``: what it writes installs, registers and passes the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infercore.testing import INFERCORE_COMMAND, server_env


def _infercore(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INFERCORE_COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_written_backend_installs_and_passes_the_conformance_suite(tmp_path: Path) -> None:
    written = _infercore("new-backend", "demo", cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "demo" / "src" / "infercore_demo" / "py.typed").exists()

    # Installed as a user installs it (a wheel built from the folder), beside this environment.
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", site,
         tmp_path / "demo"],
        check=True, timeout=300,
    )  # fmt: skip
    env = server_env({"PYTHONPATH": str(site)})
    listed = subprocess.run(
        [*INFERCORE_COMMAND, "backends"], env=env, capture_output=True, text=True, timeout=60
    )
    (line,) = [line for line in listed.stdout.splitlines() if line.startswith("demo ")]
    assert "infercore-demo 0.1.0" in line
    assert "available" in line

    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "demo", "-v", "-p", "no:cacheprovider"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert suite.returncode == 0, suite.stdout[-3000:]
    assert " failed" not in suite.stdout
    # The suite served the backend through `infercore deploy` too.
    assert "test_served_through_deploy_to_the_openai_client PASSED" in suite.stdout
    assert "test_results_come_as_they_complete_and_match_infer PASSED" in suite.stdout


@pytest.mark.parametrize("name", ["My-Backend", "9lives", "class", "a b"])
def test_a_name_that_cannot_name_a_package_is_refused(tmp_path: Path, name: str) -> None:
    refused = _infercore("new-backend", name, cwd=tmp_path)

    assert refused.returncode == 2
    assert "cannot name a backend" in refused.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("keep")

    refused = _infercore("new-backend", "demo", cwd=tmp_path)

    assert refused.returncode == 2
    assert "already exists" in refused.stderr
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["mine.txt"]
