"""The errors a user can meet; each message says what happened and what to do."""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BackendNotInstalledError",
    "BackendUnavailableError",
    "EngineError",
    "InfercoreError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "OverCapacityError",
    "ServerUnreachableError",
    "UnknownBackendError",
]


class InfercoreError(Exception):
    """The root of every error that infercore raises on purpose."""


class UnknownBackendError(InfercoreError, LookupError):
    """No backend of that name is known, installed or not."""

    def __init__(self, name: str, installed: list[str]) -> None:
        listed = ", ".join(sorted(installed)) or "none"
        super().__init__(f"unknown backend {name!r}; installed backends: {listed}")
        self.name = name
        self.installed = installed


class BackendNotInstalledError(InfercoreError, LookupError):
    """A first-party backend whose distribution is not installed."""

    def __init__(self, name: str, pip_requirement: str) -> None:
        super().__init__(
            f"backend {name!r} is not installed; install it with: pip install '{pip_requirement}'"
        )
        self.name = name
        self.pip_requirement = pip_requirement


class BackendUnavailableError(InfercoreError):
    """The backend is installed but cannot run on this machine."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"backend {name!r} is installed but unavailable here: {reason}")
        self.name = name
        self.reason = reason


class ModelNotFoundError(InfercoreError, LookupError):
    """A model name that resolves to nothing loadable."""


class InvalidRequestError(InfercoreError, ValueError):
    """A request or a setting that the chosen backend cannot honour.

    ``param`` names the offending field, as the OpenAI API's errors do.
    """

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class OverCapacityError(InfercoreError):
    """Too many requests are waiting; try again later."""


class EngineError(InfercoreError):
    """The backend failed while serving a request."""


class ServerUnreachableError(EngineError):
    """No connection to the server: it is not running, or the URL is wrong."""


class AuthenticationError(InfercoreError, PermissionError):
    """A server refused the API key (HTTP 401): a wrong key, or none where one is needed."""
