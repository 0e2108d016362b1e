"""LMDeploy's own check that its grammar engine compiles a response format."""

from __future__ import annotations

from typing import Any

from lmdeploy._guided_decoding import ensure_response_format_compilable

from infercore import InvalidRequestError

__all__ = ["check_response_format"]


def check_response_format(response_format: dict[str, Any], param: str) -> None:
    """Refuse, naming the request's ``param``, what LMDeploy would refuse on submission."""
    try:
        ensure_response_format_compilable(response_format)
    except ValueError as exc:
        raise InvalidRequestError(f"LMDeploy refuses {param}: {exc}", param=param) from None
