"""Small modules with one concept each: none of the core's passes 400 lines."""

from __future__ import annotations

from pathlib import Path

import infercore

MOST_LINES = 400


def test_no_module_of_the_core_passes_400_lines() -> None:
    root = Path(infercore.__file__).parent
    sizes = {
        str(path.relative_to(root)): len(path.read_text().splitlines())
        for path in root.rglob("*.py")
    }
    assert sizes  # the package's own files, not an empty folder
    assert {name: lines for name, lines in sizes.items() if lines > MOST_LINES} == {}
