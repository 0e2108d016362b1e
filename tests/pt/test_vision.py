"""Vision-language models on the pt backend: a small Idefics3 (SmolVLM) around SmolLM2.

The model is built here from configs (a random two-layer vision tower in
front of the trained SmolLM2), with the real Idefics3 processor, so every
step of the media path runs: loading, the processor's chat template and
placeholder expansion, the pixel inputs in the prefill, and decoding in the
shared batch.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from media_chat import media_prompt
from media_prefill import prefill_together_and_alone
from PIL import Image
from transformers import AutoProcessor
from vlm_models import make_idefics3_model

import infercore
from infercore import PreparedRequest, SamplingParams
from infercore.testing import serving_folder
from infercore_pt import PtOptions
from infercore_pt._backend import PtBackend

QUESTION = "What is in this image?"
GREEDY = {"temperature": 0.0, "max_tokens": 6}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_idefics3_model(tmp_path_factory.mktemp("vlm") / "idefics3")


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(model_path), backend="pt", dtype="float32") as e:
        yield e


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two clearly different 100x120 images: flat red, and random noise."""
    folder = tmp_path_factory.mktemp("images")
    red = folder / "red.png"
    Image.new("RGB", (100, 120), (255, 0, 0)).save(red)
    noise = folder / "noise.png"
    pixels = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(noise)
    return {"red": red, "noise": noise}


@pytest.fixture(scope="module")
def server_url(images: dict[str, Path]) -> Iterator[str]:
    with serving_folder(images["red"].parent) as url:
        yield url


def _image_request(source: str) -> dict[str, Any]:
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": source}},
                    {"type": "text", "text": QUESTION},
                ],
            }
        ]
    }


def _text_request(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _infer(
    engine: infercore.Engine, requests: list[dict[str, Any]], **config: Any
) -> list[infercore.ChatCompletionResponse]:
    responses = engine.infer(requests, {**GREEDY, **config})
    assert all(isinstance(r, infercore.ChatCompletionResponse) for r in responses)
    return responses  # type: ignore[return-value]


def _outcome(response: infercore.ChatCompletionResponse) -> tuple[str, int]:
    assert response.usage is not None
    return response.choices[0].message.content or "", response.usage.prompt_tokens


def test_an_image_request_answers(engine: infercore.Engine, images: dict[str, Path]) -> None:
    (response,) = _infer(engine, [_image_request(str(images["red"]))])
    text, _ = _outcome(response)
    assert text.strip()
    assert response.choices[0].finish_reason in ("stop", "length")


def test_a_different_image_changes_the_output(
    engine: infercore.Engine, images: dict[str, Path]
) -> None:
    red, noise = _infer(
        engine,
        [_image_request(str(images["red"])), _image_request(str(images["noise"]))],
        logprobs=True,
        top_logprobs=5,
    )
    red_text, red_tokens = _outcome(red)
    noise_text, noise_tokens = _outcome(noise)
    assert red_tokens == noise_tokens  # same size, so the same number of image tokens
    assert red.choices[0].logprobs is not None
    assert red.choices[0].logprobs.content
    assert noise.choices[0].logprobs is not None
    assert noise.choices[0].logprobs.content
    first_red = red.choices[0].logprobs.content[0]
    first_noise = noise.choices[0].logprobs.content[0]
    # The image reaches the logits: the first token's distribution moves.
    red_top = [(t.token, round(t.logprob, 3)) for t in first_red.top_logprobs]
    noise_top = [(t.token, round(t.logprob, 3)) for t in first_noise.top_logprobs]
    assert red_top != noise_top
    assert red_text != noise_text


def test_prompt_tokens_are_the_processors(
    engine: infercore.Engine, model_path: Path, images: dict[str, Path]
) -> None:
    (response,) = _infer(engine, [_image_request(str(images["red"]))])
    processor = AutoProcessor.from_pretrained(model_path)
    prompt = media_prompt(processor, "image", QUESTION)
    with Image.open(images["red"]) as image:
        expected = processor(text=[prompt], images=[image.convert("RGB")]).input_ids[0]
    _, prompt_tokens = _outcome(response)
    # DESIGN.md: a 100x120 image with this question is 48 tokens, in vLLM too.
    assert prompt_tokens == len(expected) == 48


def test_every_form_of_the_same_image_gives_the_same_result(
    engine: infercore.Engine, images: dict[str, Path], server_url: str
) -> None:
    path = images["red"]
    encoded = base64.b64encode(path.read_bytes()).decode()
    requests = [
        _image_request(str(path)),
        {"messages": [{"role": "user", "content": f"<image>{QUESTION}"}], "images": [str(path)]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image", "image": str(path)},
                        {"type": "text", "text": QUESTION},
                    ],
                }
            ]
        },
        _image_request(encoded),
        _image_request(f"data:image/png;base64,{encoded}"),
        _image_request(f"{server_url}/{path.name}"),
    ]
    outcomes = [_outcome(r) for r in _infer(engine, requests)]
    assert outcomes == [outcomes[0]] * len(requests), outcomes


def test_a_text_only_request_on_the_vlm(engine: infercore.Engine) -> None:
    (response,) = _infer(engine, [_text_request("What is the capital of France?")], max_tokens=10)
    text, _ = _outcome(response)
    assert "Paris" in text


def test_images_and_text_batch_as_each_alone(
    engine: infercore.Engine, images: dict[str, Path]
) -> None:
    requests = [
        _text_request("What is the capital of France?"),
        _image_request(str(images["noise"])),
        _text_request("Name a colour."),
        _image_request(str(images["red"])),
    ]
    alone = [_outcome(_infer(engine, [request])[0]) for request in requests]
    together = [_outcome(response) for response in _infer(engine, requests)]
    assert together == alone


def test_a_text_only_model_refuses_images(images: dict[str, Path]) -> None:
    with (
        infercore.Engine("smollm2-135m-instruct", backend="pt", dtype="float32") as engine,
        pytest.raises(infercore.InvalidRequestError, match="text only"),
    ):
        engine.infer([_image_request(str(images["red"]))], GREEDY)


async def test_the_backend_itself_refuses_media_for_a_text_only_model() -> None:
    """Not only the engine: a caller of the backend gets a clear error too."""
    path = infercore.get_plugin_manager().registry.resolve_model("smollm2-135m-instruct")
    backend = PtBackend(path, PtOptions(dtype="float32"))
    try:
        assert backend.processor is None
        request = PreparedRequest("r", "<image>hi", (1, 2), images=(Image.new("RGB", (8, 8)),))
        with pytest.raises(infercore.InvalidRequestError, match="text only"):
            await backend.prepare(request)
        # Media that skipped prepare is never generated from as if it were text.
        with pytest.raises(infercore.EngineError, match="prepare"):
            async for _ in backend.generate(request, SamplingParams(max_tokens=1)):
                pass
    finally:
        await backend.aclose()


def test_the_interactive_chat_asks_for_each_tagged_image(
    engine: infercore.Engine, model_path: Path, images: dict[str, Path]
) -> None:
    pexpect = pytest.importorskip("pexpect")
    from infercore.testing import INFERCORE_COMMAND, server_env

    flags = ["--model", str(model_path), "--backend", "pt", "-O", "dtype=float32"]
    chat = pexpect.spawn(
        INFERCORE_COMMAND[0],
        [*INFERCORE_COMMAND[1:], "infer", *flags, "--temperature", "0", "--max-tokens", "6"],
        env={**server_env(), "TERM": "dumb"},
        encoding="utf-8",
        timeout=120,
        echo=False,
    )
    try:
        chat.expect_exact("<<< ")
        chat.sendline(f"<image>{QUESTION}")
        chat.expect_exact("Input an image path or URL <<< ")
        chat.sendline(str(images["red"]))
        chat.expect_exact(">>> ")
        chat.expect_exact("\r\n<<< ")
        answer = str(chat.before).strip()
        chat.sendline("exit")
        chat.expect(pexpect.EOF)
    finally:
        chat.close(force=True)
    request = {"messages": [{"role": "user", "content": f"<image>{QUESTION}"}]}
    (expected,) = engine.infer([{**request, "images": [str(images["red"])]}], GREEDY)
    assert answer == expected.choices[0].message.content  # type: ignore[union-attr]


def test_image_prompts_prefill_together_as_each_alone(
    engine: infercore.Engine, images: dict[str, Path]
) -> None:
    processor = engine.backend.processor
    prompt = media_prompt(processor, "image", QUESTION)
    loaded = []
    for name in ("red", "noise"):
        with Image.open(images[name]) as image:
            loaded.append({"images": (image.convert("RGB"),)})
    prefill_together_and_alone(engine, prompt, loaded)


def test_a_one_shot_query_takes_its_images_from_flags(
    engine: infercore.Engine, model_path: Path, images: dict[str, Path]
) -> None:
    from infercore.testing import INFERCORE_COMMAND, server_env

    flags = ["--model", str(model_path), "--backend", "pt", "-O", "dtype=float32",
             "--temperature", "0", "--max-tokens", "6", "--no-stream"]  # fmt: skip
    query = f"<image>{QUESTION}"

    def run(*sources: str) -> subprocess.CompletedProcess[str]:
        argv = [*INFERCORE_COMMAND, "infer", *flags, "--query", query, "--images", *sources]
        return subprocess.run(
            argv, capture_output=True, text=True, env=server_env(), timeout=120, check=False
        )

    answered = run(str(images["red"]))
    assert answered.returncode == 0, answered.stderr
    request = {"messages": [{"role": "user", "content": query}], "images": [str(images["red"])]}
    (expected,) = engine.infer([request], GREEDY)
    assert answered.stdout.strip() == expected.choices[0].message.content  # type: ignore[union-attr]
    miscounted = run(str(images["red"]), str(images["noise"]))
    assert miscounted.returncode == 2
    assert "error:" in miscounted.stderr
    assert "Traceback" not in miscounted.stderr
