"""``MediaLimits``: every budget and policy for loading media, as one typed options model."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, ValidationError, field_validator

from infercore._media._errors import MediaCountError

__all__ = ["ENVIRONMENT_VARIABLES", "MediaLimits", "Modality"]

Modality = Literal["image", "video", "audio"]

_MIB = 1024 * 1024

#: The environment variables that ms-swift (and qwen-vl-utils) users set, by field.
ENVIRONMENT_VARIABLES: Mapping[str, str] = {
    "MAX_PIXELS": "max_pixels",
    "VIDEO_MAX_PIXELS": "video_max_pixels",
    "FPS": "fps",
    "FPS_MAX_FRAMES": "max_frames",
}

_DEFAULT_LIMIT_PER_PROMPT: dict[Modality, int] = {"image": 16, "video": 2, "audio": 4}


class MediaLimits(BaseModel):
    """The budgets for decoded media and the policy for where media may come from.

    The defaults are safe for a server: only global addresses, no local files, byte, time
    and pixel caps. For a trusted caller (a script, the CLI) :meth:`trusted` opens local
    files and private addresses while keeping the caps.

    Pixel defaults follow qwen-vl-utils (``MAX_PIXELS`` = 16384·28·28, ``VIDEO_MAX_PIXELS``
    = 768·28·28, ``FPS`` = 2). ``max_frames`` defaults to 128 rather than its 768 so that one
    video is at most 128 × 602112 × 3 B ≈ 231 MB of frames; raise it with ``FPS_MAX_FRAMES``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- decoded budgets ----------------------------------------------------------
    max_pixels: int | None = Field(
        12_845_056,
        gt=0,
        description="images over this many pixels are resized to fit, keeping the aspect "
        "ratio (MAX_PIXELS); None keeps their size",
    )
    video_max_pixels: int = Field(
        602_112, gt=0, description="each video frame is resized to fit (VIDEO_MAX_PIXELS)"
    )
    fps: float = Field(2.0, gt=0, description="video frames sampled per second (FPS)")
    max_frames: int = Field(
        128, gt=0, description="at most this many frames per video (FPS_MAX_FRAMES)"
    )
    max_image_pixels: int = Field(
        100_000_000,
        gt=0,
        description="decompression-bomb guard: an image (or video frame) whose header "
        "declares more pixels is refused before it is decoded",
    )
    audio_max_seconds: float = Field(
        600.0, gt=0, description="longer audio is refused before it is decoded"
    )

    # -- fetching: bytes and time, per modality --------------------------------------
    image_max_bytes: int = Field(20 * _MIB, gt=0)
    video_max_bytes: int = Field(200 * _MIB, gt=0)
    audio_max_bytes: int = Field(50 * _MIB, gt=0)
    image_timeout_s: float = Field(10.0, gt=0, description="total deadline of one image fetch")
    video_timeout_s: float = Field(60.0, gt=0, description="total deadline of one video fetch")
    audio_timeout_s: float = Field(30.0, gt=0, description="total deadline of one audio fetch")
    connect_timeout_s: float = Field(5.0, gt=0)
    read_timeout_s: float = Field(
        10.0, gt=0, description="the longest wait for the next bytes of a response"
    )
    max_redirects: int = Field(5, ge=0)

    # -- where media may come from --------------------------------------------------
    allowed_media_domains: tuple[str, ...] | None = Field(
        None,
        description="when set, only these hosts and their subdomains are fetched from",
    )
    allowed_local_media_path: Path | None = Field(
        None,
        description="local paths and file:// URLs are read only when set, and only from "
        "inside this folder (after following symlinks)",
    )
    allow_private_addresses: bool = Field(
        False,
        description="fetch from loopback, private (RFC 1918, ULA) and shared addresses; "
        "link-local (169.254.0.0/16, fe80::/10, the cloud metadata service), multicast, "
        "unspecified and reserved addresses stay refused unless in allowed_networks",
    )
    allowed_networks: tuple[IPvAnyNetwork, ...] = Field(
        (), description="networks fetched from even though they are not global"
    )
    limit_per_prompt: dict[Modality, int] = Field(
        default_factory=lambda: dict(_DEFAULT_LIMIT_PER_PROMPT),
        description="the most items of each modality in one prompt; modalities not given "
        "keep their default",
    )

    @field_validator("allowed_media_domains")
    @classmethod
    def _normalise_domains(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        domains = []
        for domain in value:
            # "*.example.com" and ".example.com" mean what "example.com" means here.
            name = domain.strip().lower().removeprefix("*.").strip(".")
            if not name:
                raise ValueError(f"{domain!r} is not a domain name")
            domains.append(name.encode("idna").decode("ascii"))
        return tuple(domains)

    @field_validator("limit_per_prompt")
    @classmethod
    def _fill_limits(cls, value: dict[Modality, int]) -> dict[Modality, int]:
        for modality, limit in value.items():
            if limit < 0:
                raise ValueError(f"the limit for {modality} must be 0 or more, not {limit}")
        return {**_DEFAULT_LIMIT_PER_PROMPT, **value}

    # -- per-modality lookups ----------------------------------------------------

    def max_bytes(self, modality: Modality) -> int:
        """The byte cap of one item of ``modality``, fetched, read or base64-decoded."""
        caps = {
            "image": self.image_max_bytes,
            "video": self.video_max_bytes,
            "audio": self.audio_max_bytes,
        }
        return caps[modality]

    def timeout_s(self, modality: Modality) -> float:
        """The total deadline of one fetch of ``modality``, redirects and body included."""
        deadlines = {
            "image": self.image_timeout_s,
            "video": self.video_timeout_s,
            "audio": self.audio_timeout_s,
        }
        return deadlines[modality]

    def check_counts(self, counts: Mapping[Modality, int]) -> None:
        """Raise :class:`MediaCountError` where a prompt has more items than allowed."""
        for modality, count in counts.items():
            limit = self.limit_per_prompt[modality]
            if count > limit:
                raise MediaCountError(
                    f"the prompt has {count} {modality}s; at most {limit} are allowed per prompt",
                    reason="too_many_items",
                )

    # -- constructors ---------------------------------------------------------------

    @classmethod
    def trusted(cls, **overrides: Any) -> MediaLimits:
        """Limits for a trusted caller (the Python API, the CLI).

        Local files anywhere (``allowed_local_media_path="/"``) and private and loopback
        addresses; byte, time and pixel caps as by default. Never for a server.
        """
        values: dict[str, Any] = {
            "allowed_local_media_path": Path(os.path.abspath(os.sep)),
            "allow_private_addresses": True,
        }
        values.update(overrides)
        return cls.model_validate(values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **overrides: Any) -> MediaLimits:
        """The defaults, then ``MAX_PIXELS``, ``VIDEO_MAX_PIXELS``, ``FPS`` and
        ``FPS_MAX_FRAMES`` from the environment (empty values ignored), then ``overrides``.

        A value that does not parse raises :class:`ValueError` naming the variable.
        """
        env = os.environ if environ is None else environ
        from_env = {
            field: env[name].strip()
            for name, field in ENVIRONMENT_VARIABLES.items()
            if env.get(name, "").strip()
        }
        try:
            return cls.model_validate({**from_env, **overrides})
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                field = str(error["loc"][0]) if error["loc"] else ""
                if field in from_env and field not in overrides:
                    name = next(n for n, f in ENVIRONMENT_VARIABLES.items() if f == field)
                    raise ValueError(
                        f"environment variable {name}={from_env[field]!r}: {error['msg']}"
                    ) from exc
            raise
