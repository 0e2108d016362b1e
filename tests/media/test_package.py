"""The package imports without its optional dependencies and names the extra when one is missing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infercore._media import MediaDependencyError, MediaLimits, load_audio, load_image, load_video

OPTIONAL = ["PIL", "numpy", "decord", "av", "soundfile"]


def test_importing_the_package_imports_no_decoder() -> None:
    code = (
        f"import sys, infercore._media; print(sorted(m for m in {OPTIONAL!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("blocked", "extra"),
    [("PIL.Image", "media"), ("decord", "video"), ("av", "video"), ("soundfile", "audio")],
)
async def test_a_missing_decoder_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, blocked: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, blocked, None)  # makes `import blocked` fail
    load = {
        "media": lambda: load_image(b"x", MediaLimits()),
        "video": lambda: load_video(b"x", MediaLimits()),
        "audio": lambda: load_audio(b"x", 16000, MediaLimits()),
    }[extra]
    with pytest.raises(MediaDependencyError, match=rf"pip install 'infercore\[{extra}\]'"):
        await load()
