"""``infercore new-backend NAME``: a backend distribution that installs, registers and passes
the conformance suite as written, for its author to put an engine into."""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from infercore._errors import InvalidRequestError
from infercore._version import __version__

__all__ = ["write_backend"]

_NAME = re.compile(r"[a-z][a-z0-9_]*")

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.24"]
build-backend = "hatchling.build"

[project]
name = "infercore-{dist}"
version = "0.1.0"
description = "The {name} backend for infercore"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["infercore>={core_version}"]

[project.optional-dependencies]
# The conformance suite, and its test of the backend behind `infercore deploy`.
test = ["infercore[serve,test]>={core_version}"]

[project.entry-points.infercore]
{name} = "{package}._plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]
"""

_README = """\
# infercore-{dist}

The `{name}` backend for [infercore](https://pypi.org/project/infercore/).

```console
$ pip install -e '.[test]'
$ infercore backends          # lists {name}
$ pytest                      # the conformance suite
```

`src/{package}/_backend.py` holds the backend. Its generation is a stand-in
that repeats the last user message byte by byte: replace it, the tokenizer
and `max_model_len` with your engine's, declare in `_plugin.py` what your
engine honours (`Capabilities`), and point `model` in
`tests/test_conformance.py` at a small model of yours.
"""

_OPTIONS = '''\
"""The {name} backend's options: what users pass as keyword arguments or `-O NAME=VALUE`."""

from __future__ import annotations

from pydantic import Field

import infercore


class {cls}Options(infercore.BackendOptions):
    max_model_len: int = Field(default=4096, ge=16, description="tokens per sequence")
    token_delay: float = Field(default=0.0, ge=0.0, description="seconds between tokens")
'''

_PLUGIN = '''\
"""Registers the {name} backend. Imports no engine, so that `infercore backends` always works."""

from __future__ import annotations

from collections.abc import Callable

import infercore
from {package}._options import {cls}Options


def _load() -> type[infercore.Backend[{cls}Options]]:
    from {package}._backend import {cls}Backend  # the engine's imports happen here

    return {cls}Backend


def _probe() -> str | None:
    """Why the backend cannot run on this machine (a missing package, no device), or None."""
    return None


@infercore.hookimpl
def register_backends(register: Callable[[infercore.BackendSpec], None]) -> None:
    register(
        infercore.BackendSpec(
            name="{name}",
            load=_load,
            # Claim only what the engine honours: anything else is refused for the user.
            capabilities=infercore.Capabilities(sampling=frozenset({{"ignore_eos"}})),
            options={cls}Options,
            probe=_probe,
            priority=None,  # a rank for backend="auto" once it serves real models
            description="{name}: repeats the last user message (replace with your engine)",
        )
    )
'''

_BACKEND = '''\
"""The {name} backend."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import infercore
from {package}._options import {cls}Options

_USER = "<|im_start|>user\\n"
_END = "<|im_end|>"


class {cls}Backend(infercore.Backend[{cls}Options]):
    """Streams the last user message back, byte by byte, then ends the sequence.

    Replace the tokenizer and the loop in `generate` with your engine's; keep the
    contract (see infercore's docs/writing-a-backend.md): deltas as tokens come, the
    finish reason on the last one, the request released when the caller stops.
    """

    def __init__(self, model: str, options: {cls}Options) -> None:
        super().__init__(model, options)
        self._tokenizer = infercore.ByteTokenizer()
        self._active = 0

    @property
    def tokenizer(self) -> infercore.ByteTokenizer:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self.options.max_model_len

    @property
    def active_requests(self) -> int:
        return self._active

    async def generate(
        self, request: infercore.PreparedRequest, params: infercore.SamplingParams
    ) -> AsyncIterator[infercore.Delta]:
        message = request.prompt.rpartition(_USER)[2].partition(_END)[0] or "."
        answer = list(message.encode())
        detokenizer = infercore.IncrementalDetokenizer(self._tokenizer)
        self._active += 1
        try:
            for count in range(1, params.max_tokens + 1):
                await asyncio.sleep(self.options.token_delay)
                if count > len(answer) and not params.ignore_eos:
                    # The end-of-sequence token: counted, no text, finish "stop".
                    yield infercore.Delta(
                        (self._tokenizer.eos_token_id,), detokenizer.flush(), finish_reason="stop"
                    )
                    return
                token = answer[(count - 1) % len(answer)]
                finish = "length" if count == params.max_tokens else None
                text = detokenizer.push([token])
                if finish is not None:
                    text += detokenizer.flush()
                yield infercore.Delta((token,), text, finish_reason=finish)
                if finish is not None:
                    return
        finally:
            self._active -= 1  # also when the caller stops early
'''

_TEST = '''\
"""infercore's conformance suite, run on the {name} backend."""

from __future__ import annotations

from typing import Any, ClassVar

from infercore.testing import BackendConformance


class Test{cls}Conformance(BackendConformance):
    backend = "{name}"
    model = "{name}-model"  # the stand-in loads none; name a small model of your engine's
    options: ClassVar[dict[str, Any]] = {{"max_model_len": 512, "token_delay": 0.001}}
'''


def write_backend(name: str, parent: Path) -> Path:
    """Write the distribution of backend ``name`` into ``parent / name``; return that folder.

    Refuses a name that is not a lower-case Python identifier (it names the backend, its
    package and its entry point) and a folder that already exists.
    """
    if not _NAME.fullmatch(name) or keyword.iskeyword(name):
        raise InvalidRequestError(
            f"{name!r} cannot name a backend: use lower-case letters, digits and underscores, "
            "starting with a letter (it names the backend, its package and its entry point)",
            param="name",
        )
    folder = parent / name
    if folder.exists():
        raise InvalidRequestError(f"{folder} already exists; choose another name or folder")
    package = f"infercore_{name}"
    fields = {
        "name": name,
        "dist": name.replace("_", "-"),
        "package": package,
        "cls": "".join(part.capitalize() for part in name.split("_")),
        "core_version": __version__,
    }
    files = {
        "pyproject.toml": _PYPROJECT,
        "README.md": _README,
        f"src/{package}/__init__.py": '"""The {name} backend for infercore."""\n',
        f"src/{package}/py.typed": "",
        f"src/{package}/_options.py": _OPTIONS,
        f"src/{package}/_plugin.py": _PLUGIN,
        f"src/{package}/_backend.py": _BACKEND,
        "tests/test_conformance.py": _TEST,
    }
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**fields))
    return folder
