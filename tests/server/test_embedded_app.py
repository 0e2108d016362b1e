"""``create_app`` embedded in one's own process: the app over an engine one built.

Each app runs under uvicorn on its engine's own loop (as ``serve`` runs it) on
a free loopback port, and is driven by the official ``openai`` client. The
engines are on ``image-echo`` (``image_echo_backend``): it answers with the size
of each image it was given, so what the server let the engine load shows.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import image_echo_backend
import openai
import pytest
from PIL import Image

import infercore
from infercore import Engine, InfercoreError, MediaLimits
from infercore._server import ServerSettings, create_app
from infercore.testing import serving_folder
from infercore.testing._serving import serving_engine

MODEL = "image-echo-model"


@pytest.fixture(scope="module", autouse=True)
def image_echo() -> Iterator[None]:
    manager = infercore.get_plugin_manager()
    manager.register(image_echo_backend, "image-echo")
    yield
    manager.unregister("image-echo")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one 100x120 image, ``red.png``."""
    folder = tmp_path_factory.mktemp("media")
    Image.new("RGB", (100, 120), (255, 0, 0)).save(folder / "red.png")
    return folder


@pytest.fixture(scope="module")
def image_url(media: Path) -> Iterator[str]:
    with serving_folder(media) as root:  # on 127.0.0.1
        yield f"{root}/red.png"


@contextlib.contextmanager
def embedded(
    settings: ServerSettings, media: MediaLimits | None, **options: Any
) -> Iterator[openai.OpenAI]:
    """An engine on ``media`` limits (and backend ``options``), its app under uvicorn on the
    engine's loop (as ``serve`` runs it) on a free loopback port; a client for it."""
    with (
        Engine(MODEL, backend="image-echo", media=media, **options) as engine,
        serving_engine(engine, settings) as url,
    ):
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def ask(client: openai.OpenAI, image: str) -> str | None:
    content: Any = [
        {"type": "image_url", "image_url": {"url": image}},
        {"type": "text", "text": "?"},
    ]
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}], max_tokens=32
    )
    return answer.choices[0].message.content


def refusal(client: openai.OpenAI, image: str) -> str:
    """The ``code`` of the 400 that asking about ``image`` gets."""
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, image)
    body = refused.value.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error"
    return str(body["code"])


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def test_an_engine_with_a_scripts_media_limits_is_not_served_by_default() -> None:
    # Built without media=, an engine trusts its caller: local files anywhere and
    # private addresses. Serving it as it is would hand that trust to every client.
    with Engine(MODEL, backend="image-echo") as engine:
        assert engine.media_limits.allow_private_addresses
        with pytest.raises(InfercoreError) as refused:
            create_app(engine, ServerSettings())
    message = str(refused.value)
    assert "allowed_local_media_path" in message
    assert "allow_private_addresses" in message
    assert "media=settings.media_limits()" in message
    assert "trust_engine_media=True" in message


def test_on_the_servers_limits_local_paths_and_loopback_urls_are_refused(
    media: Path, image_url: str
) -> None:
    settings = ServerSettings()
    with embedded(settings, settings.media_limits()) as client:
        assert refusal(client, image_url) == "address_not_allowed"
        assert refusal(client, str(media / "red.png")) == "local_path_not_allowed"
        assert refusal(client, (media / "red.png").as_uri()) == "local_path_not_allowed"
        # Refusals harm nothing: the same image inline is loaded and answered.
        assert ask(client, data_uri(media / "red.png")) == "100x120"


def test_the_media_settings_open_one_folder_and_loopback_networks(
    media: Path, image_url: str, tmp_path: Path
) -> None:
    Image.new("RGB", (30, 20)).save(tmp_path / "outside.png")
    settings = ServerSettings(
        allowed_local_media_path=media, allowed_media_networks=("127.0.0.0/8",)
    )
    with embedded(settings, settings.media_limits()) as client:
        assert ask(client, image_url) == "100x120"
        assert ask(client, str(media / "red.png")) == "100x120"
        assert refusal(client, str(tmp_path / "outside.png")) == "local_path_not_allowed"


def test_trust_engine_media_serves_with_the_engines_own_limits(
    image_url: str, tmp_path: Path
) -> None:
    Image.new("RGB", (30, 20)).save(tmp_path / "anywhere.png")
    # media=None: the engine's own, a trusted caller's limits.
    with embedded(ServerSettings(trust_engine_media=True), None) as client:
        assert ask(client, image_url) == "100x120"
        assert ask(client, str(tmp_path / "anywhere.png")) == "30x20"


def _chat_responses(client: openai.OpenAI) -> float:
    """This app's count of ``/v1/chat/completions`` answered 200, from its ``/metrics``."""
    scraped = httpx.get(f"{client.base_url}".removesuffix("v1/") + "metrics", timeout=10)
    assert scraped.status_code == 200
    wanted = (
        f'infercore_requests_total{{model_name="{MODEL}",route="/v1/chat/completions",'
        'status="200"}'
    )
    for line in scraped.text.splitlines():
        series, _, value = line.rpartition(" ")
        if series == wanted:
            return float(value)
    return 0.0


def test_apps_in_one_process_keep_metrics_of_their_own(media: Path) -> None:
    settings = ServerSettings()
    with (
        embedded(settings, settings.media_limits()) as first,
        embedded(settings, settings.media_limits()) as second,
    ):
        assert ask(first, data_uri(media / "red.png")) == "100x120"
        assert ask(first, data_uri(media / "red.png")) == "100x120"
        assert _chat_responses(first) == 2
        assert _chat_responses(second) == 0


def test_routes_an_embedder_adds_join_the_openapi_document() -> None:
    settings = ServerSettings()
    with Engine(MODEL, backend="image-echo", media=settings.media_limits()) as engine:
        app = create_app(engine, settings)

        @app.get("/v1/extra")
        def extra() -> dict[str, str]:
            return {"extra": "yes"}

        paths = app.openapi()["paths"]
    assert {"/v1/extra", "/v1/chat/completions", "/v1/completions"} <= set(paths)
    assert "security" not in app.openapi()  # no key, nothing to send


def test_media_settings_that_do_not_parse_are_refused_before_serving() -> None:
    with pytest.raises(InfercoreError, match="invalid media settings"):
        ServerSettings(allowed_media_networks=("not-a-network",)).media_limits()


async def _two_at_once(base_url: str) -> list[httpx.Response]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        first = asyncio.create_task(http.post("/chat/completions", json=body))
        await asyncio.sleep(0.3)  # the first holds the one slot, in its first-token delay
        second = await http.post("/chat/completions", json=body)
        return [await first, second]


def test_a_429_asks_the_client_to_retry_after_the_settings_seconds() -> None:
    settings = ServerSettings(max_concurrency=1, max_queue=0, retry_after=7)
    with embedded(settings, settings.media_limits(), first_token_delay=1.0) as client:
        first, second = asyncio.run(_two_at_once(str(client.base_url)))

    assert first.status_code == 200
    assert second.status_code == 429
    assert second.headers["retry-after"] == "7"
    assert "retry after 7 s" in second.json()["error"]["message"]
