"""The conformance suite's contract tests: refusals, faults, LoRA, media and the server path."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from infercore._backend import SAMPLING_FIELDS, Delta, PreparedRequest, SamplingParams
from infercore._engine import Engine
from infercore._errors import EngineError, InvalidRequestError
from infercore._plugins import ENTRY_POINT_GROUP, get_plugin_manager
from infercore.testing._serving import deployed
from infercore.testing._suite import (
    OTHER_QUESTIONS,
    QUESTION,
    SuiteBase,
    answers,
    streamed_text,
    wait_idle,
)

__all__ = ["ContractTests"]

# A valid one-pixel PNG: the refusal tests never get as far as decoding it.
ONE_PIXEL_PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
IMAGE_QUESTION = "What is in this image?"


class ContractTests(SuiteBase):
    def test_a_prompt_over_the_context_is_refused_before_generation(self, engine: Engine) -> None:
        tokenizer = engine.backend.tokenizer
        too_long = "hello " * 64
        while (
            len(tokenizer.encode(too_long, add_special_tokens=False))
            <= engine.backend.max_model_len
        ):
            too_long *= 2
        request = [{"messages": [{"role": "user", "content": too_long}]}]
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(request, self._greedy())
        assert refused.value.param == "messages"
        with pytest.raises(InvalidRequestError) as overlong:
            engine.infer(QUESTION, self._greedy(max_tokens=engine.backend.max_model_len))
        assert overlong.value.param == "max_tokens"
        assert engine.backend.active_requests == 0

    def test_a_setting_the_backend_does_not_declare_is_refused(self, engine: Engine) -> None:
        undeclared = sorted(SAMPLING_FIELDS - engine.capabilities.sampling - {"ignore_eos"})
        if not undeclared:
            pytest.skip("backend declares every sampling setting")
        name = undeclared[0]
        value = 1 if name in ("seed", "top_k") else 0.5
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(QUESTION, self._greedy(**{name: value}))
        assert refused.value.param == name

    def test_served_through_deploy_to_the_openai_client(self, engine: Engine) -> None:
        """The whole server path: ``infercore deploy`` in a subprocess, the official client.

        Each LoRA adapter is served under its own name, as clients choose one.
        """
        openai = pytest.importorskip("openai")
        pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
        plugin = get_plugin_manager().registry.get(engine.backend_name).plugin
        if not metadata.entry_points(group=ENTRY_POINT_GROUP, name=plugin):
            pytest.skip(f"backend {engine.backend_name!r} is registered here, not installed")
        flags = [f"-O{name}={json.dumps(value)}" for name, value in self.options.items()]
        if engine.adapters:
            flags += ["--adapters", *(f"{name}={path}" for name, path in engine.adapters.items())]
        names = [None, *engine.adapters]
        requests = [{**QUESTION[0], "adapter": name} for name in names]
        expected = answers(engine.infer(requests, self._greedy()))
        args = ["--model", self.model, "--backend", engine.backend_name, *flags]
        settings = self._greedy().model_dump(
            include={"max_tokens", "temperature"}, exclude_none=True
        )
        messages = QUESTION[0]["messages"]
        served, streamed = [], []
        with deployed(*args) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
            for name in names:
                model = name or self.model
                whole = client.chat.completions.create(model=model, messages=messages, **settings)
                served.append(whole.choices[0].message.content)
                chunks = client.chat.completions.create(
                    model=model, messages=messages, stream=True, **settings
                )
                streamed.append(streamed_text(chunks))
            client.close()
        assert served == expected
        assert streamed == expected

    # -- faults --------------------------------------------------------------------

    def test_a_backend_failing_mid_stream_fails_that_request_only(
        self, engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An exception out of ``generate`` after some tokens: that request's caller gets
        an EngineError, the request is released, and the others in flight finish."""
        failing_text = OTHER_QUESTIONS[0]["messages"][0]["content"]
        generate = engine.backend.generate

        async def breaks_after_two_tokens(
            request: PreparedRequest, params: SamplingParams
        ) -> AsyncIterator[Delta]:
            deltas = generate(request, params)
            try:
                count = 0
                async for delta in deltas:
                    count += len(delta.token_ids)
                    if failing_text in request.prompt and count > 2:
                        raise RuntimeError("the backend broke on purpose")
                    yield delta
            finally:
                await deltas.aclose()  # type: ignore[attr-defined]

        expected = answers(engine.infer(QUESTION, self._greedy()))
        monkeypatch.setattr(engine.backend, "generate", breaks_after_two_tokens)
        # Long enough to reach the failure: the question asks for several words.
        config = self._greedy(max_tokens=max(self.max_tokens, 8))
        healthy, failing = engine.stream([QUESTION[0], OTHER_QUESTIONS[0]], config)
        received: list[Any] = []
        with pytest.raises(EngineError, match="broke on purpose"):
            received.extend(failing)  # keeps the chunks that came before the failure
        assert received, "the stream failed before its first chunk"
        assert [streamed_text(healthy)] == expected
        with pytest.raises(EngineError, match="broke on purpose"):
            engine.infer(OTHER_QUESTIONS[:1], config)
        wait_idle(engine)
        monkeypatch.undo()
        assert answers(engine.infer(QUESTION, self._greedy())) == expected

    # -- LoRA ----------------------------------------------------------------------

    def test_each_request_gets_its_own_adapter_in_a_shared_batch(self, engine: Engine) -> None:
        if not engine.capabilities.lora:
            pytest.skip("backend does not declare LoRA")
        if len(engine.adapters) < 2:
            pytest.skip("the test class gives fewer than two adapters")
        names = [None, *sorted(engine.adapters)]
        requests = [
            {**question, "adapter": name}
            for question in (QUESTION[0], OTHER_QUESTIONS[1])
            for name in names
        ]
        together = answers(engine.infer(requests, self._greedy()))
        alone = [answers(engine.infer([request], self._greedy()))[0] for request in requests]
        assert together == alone
        # The adapters have weights of their own: over the two questions each answers
        # unlike the base and unlike the other.
        by_name = list(zip(together[: len(names)], together[len(names) :], strict=True))
        assert len(set(by_name)) == len(names), by_name
        wait_idle(engine)

    def test_an_adapter_the_engine_did_not_load_is_refused(self, engine: Engine) -> None:
        request = {**QUESTION[0], "adapter": "never-loaded"}
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer([request], self._greedy())
        assert refused.value.param == "adapter"
        assert engine.backend.active_requests == 0

    # -- media ---------------------------------------------------------------------

    def test_an_image_the_model_cannot_take_is_refused_before_generation(
        self, engine: Engine
    ) -> None:
        if "image" in engine.capabilities.modalities and engine.backend.processor is not None:
            pytest.skip("this engine's model takes images")
        request = {
            "messages": [{"role": "user", "content": f"<image>{IMAGE_QUESTION}"}],
            "images": [ONE_PIXEL_PNG],
        }
        with pytest.raises(InvalidRequestError) as refused:
            engine.stream([request], self._greedy())
        assert refused.value.param in ("images", "messages")
        assert engine.backend.active_requests == 0

    def test_an_image_round_trips_in_every_form_a_request_can_give_it(
        self, engine: Engine, media_engine: Engine | None, tmp_path: Path
    ) -> None:
        """A path, a file URL, a data URI, as a content part or behind an ``<image>`` tag:
        the same picture gets the same answer, streamed or not, and its tokens are counted."""
        if media_engine is None:
            pytest.skip("the test class gives no engine on an image model")
        if "image" not in media_engine.capabilities.modalities:
            pytest.skip("backend does not declare images")
        image = pytest.importorskip("PIL.Image")
        picture = tmp_path / "gradient.png"
        pixels = bytes(value for y in range(96) for x in range(80) for value in (x * 3, y * 2, 90))
        image.frombytes("RGB", (80, 96), pixels).save(picture)
        data_uri = "data:image/png;base64," + base64.b64encode(picture.read_bytes()).decode()

        def content_part(source: str) -> dict[str, Any]:
            parts = [
                {"type": "image_url", "image_url": {"url": source}},
                {"type": "text", "text": IMAGE_QUESTION},
            ]
            return {"messages": [{"role": "user", "content": parts}]}

        tagged = {
            "messages": [{"role": "user", "content": f"<image>{IMAGE_QUESTION}"}],
            "images": [str(picture)],
        }
        requests = [
            content_part(str(picture)),
            content_part(picture.as_uri()),
            content_part(data_uri),
            tagged,
        ]
        responses = media_engine.infer(requests, self._greedy())
        first = answers(responses)[0]
        assert first
        assert answers(responses) == [first] * len(requests)
        text_only = media_engine.infer(
            [{"messages": [{"role": "user", "content": IMAGE_QUESTION}]}], self._greedy()
        )[0]
        # The image's placeholder tokens are part of the prompt the usage counts.
        assert responses[0].usage.prompt_tokens > text_only.usage.prompt_tokens
        (stream,) = media_engine.stream(requests[2:3], self._greedy())
        assert streamed_text(stream) == first
        wait_idle(media_engine)

    def test_an_image_that_does_not_decode_is_refused_before_generation(
        self, engine: Engine, media_engine: Engine | None
    ) -> None:
        if media_engine is None:
            pytest.skip("the test class gives no engine on an image model")
        broken = "data:image/png;base64," + base64.b64encode(b"not a picture at all").decode()
        request = {
            "messages": [{"role": "user", "content": f"<image>{IMAGE_QUESTION}"}],
            "images": [broken],
        }
        with pytest.raises(InvalidRequestError):
            media_engine.stream([request, QUESTION[0]], self._greedy())
        assert media_engine.backend.active_requests == 0
