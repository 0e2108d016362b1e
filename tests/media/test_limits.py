"""MediaLimits: defaults, the ms-swift environment variables, validation, counts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from infercore._media import MediaCountError, MediaLimits


def test_defaults_are_safe_for_a_server() -> None:
    limits = MediaLimits()
    assert limits.max_pixels == 16384 * 28 * 28
    assert limits.video_max_pixels == 768 * 28 * 28
    assert limits.fps == 2.0
    assert limits.max_image_pixels == 100_000_000
    assert limits.allowed_local_media_path is None
    assert not limits.allow_private_addresses
    assert limits.allowed_networks == ()
    assert limits.allowed_media_domains is None
    assert limits.max_bytes("image") < limits.max_bytes("video")
    assert limits.timeout_s("image") <= limits.timeout_s("video")


def test_from_env_reads_the_ms_swift_variables() -> None:
    env = {
        "MAX_PIXELS": "1003520",
        "VIDEO_MAX_PIXELS": "50176",
        "FPS": "1.5",
        "FPS_MAX_FRAMES": "16",
    }
    limits = MediaLimits.from_env(env)
    assert (limits.max_pixels, limits.video_max_pixels) == (1003520, 50176)
    assert (limits.fps, limits.max_frames) == (1.5, 16)


def test_from_env_ignores_empty_values_and_overrides_win() -> None:
    limits = MediaLimits.from_env({"MAX_PIXELS": " ", "FPS": "4"}, fps=1.0, max_frames=8)
    assert limits.max_pixels == MediaLimits().max_pixels
    assert (limits.fps, limits.max_frames) == (1.0, 8)


def test_from_env_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FPS_MAX_FRAMES", "12")
    assert MediaLimits.from_env().max_frames == 12


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_PIXELS", "lots"), ("FPS", "-1"), ("FPS_MAX_FRAMES", "0")]
)
def test_a_bad_environment_value_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"environment variable {name}="):
        MediaLimits.from_env({name: value})


def test_values_are_validated() -> None:
    with pytest.raises(ValidationError):
        MediaLimits(max_pixels=0)
    with pytest.raises(ValidationError):
        MediaLimits(unknown_option=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        MediaLimits(allowed_networks=("not a network",))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        MediaLimits(allowed_media_domains=("",))


def test_limit_per_prompt_keeps_defaults_for_modalities_not_given() -> None:
    limits = MediaLimits(limit_per_prompt={"image": 2})
    assert limits.limit_per_prompt == {"image": 2, "video": 2, "audio": 4}
    limits.check_counts({"image": 2, "video": 1})
    with pytest.raises(MediaCountError) as refused:
        limits.check_counts({"image": 3})
    assert refused.value.reason == "too_many_items"
    assert "3 images" in str(refused.value)


def test_trusted_opens_local_files_and_private_addresses_keeping_caps() -> None:
    limits = MediaLimits.trusted(max_pixels=100)
    assert limits.allowed_local_media_path == Path("/")
    assert limits.allow_private_addresses
    assert limits.max_pixels == 100
    assert limits.max_image_pixels == MediaLimits().max_image_pixels
