"""``infercore bench serve``: load a running OpenAI-compatible server and measure it.

Measured on the client, streamed, as vLLM's ``bench serve`` does (the figures
are defined in :mod:`infercore._bench_metrics`). It sends only standard
OpenAI fields plus vLLM's ``ignore_eos`` (switchable), so it measures any
OpenAI-compatible server, ours or another's.

Prompts are random common words (see :mod:`infercore._bench_workload`),
sized to about ``--input-len`` tokens of the server's own tokenizer, or drawn
long-tailed around it: two calibration requests read the prompt token counts
that the server reports for two prompt lengths. A shared system prompt of
about ``--prefix-len`` tokens may lead a share of them. Requests arrive as a
Poisson process at ``--request-rate`` (inf: all at once) and at most
``--concurrency`` are in flight. Output tokens are counted from the server's
usage (asked for with ``stream_options.include_usage``), else one per
content chunk.

It runs on aiohttp (``pip install 'infercore[bench]'``): httpx's own cost
caps a client near a few hundred requests/s on one core, which would
measure the client rather than the server.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infercore._bench_metrics import RequestResult, summarize
from infercore._bench_workload import Calibration, Lengths, Prompt, build_prompts, words
from infercore._errors import InfercoreError
from infercore._openai import SSE_DONE, SSEDecoder, api_root, error_for_status

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DESCRIPTION", "BenchConfig", "run_bench"]

DESCRIPTION = (
    "Load a running OpenAI-compatible server with synthetic prompts and measure it on the "
    "client, as vLLM's bench serve does: time to first token, time per output token, "
    "inter-token latency, end-to-end latency (mean, median, p90, p99), requests/s and tokens/s, "
    "and goodput (requests/s that meet latency targets). Prompt and output lengths are fixed "
    "or long-tailed, and a shared system prompt may lead a share of the requests."
)


@dataclass(frozen=True)
class BenchConfig:
    """One run of ``bench serve``; ``model`` None asks the server for its first model.

    ``prefix_len`` tokens (about) of one shared system prompt lead
    ``prefix_share`` of the requests; ``goodput`` maps ``ttft``, ``tpot`` or
    ``e2el`` to a target in milliseconds.
    """

    base_url: str
    model: str | None = None
    concurrency: int = 1
    num_requests: int = 100
    input_len: int = 128
    output_len: int = 128
    request_rate: float = math.inf
    lengths: Lengths = "fixed"
    prefix_len: int = 0
    prefix_share: float = 1.0
    goodput: Mapping[str, float] = field(default_factory=dict)
    endpoint: str = "chat"  # or "completions"
    stream: bool = True
    ignore_eos: bool = True
    api_key: str | None = None
    seed: int = 0
    timeout: float = 600.0


class _Target:
    """The server: its URL, headers, and how to build and send one request body."""

    def __init__(self, config: BenchConfig, session: aiohttp.ClientSession, model: str) -> None:
        self.config = config
        self.session = session
        self.model = model
        root = api_root(config.base_url)
        path = "/chat/completions" if config.endpoint == "chat" else "/completions"
        self.url = root + path
        self.headers = {"Content-Type": "application/json"}
        if config.api_key:
            self.headers["Authorization"] = f"Bearer {config.api_key}"

    def body(self, prompt: Prompt, stream: bool) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": prompt.max_tokens,
            "stream": stream,
        }
        if self.config.endpoint == "chat":
            system = [{"role": "system", "content": prompt.system}] if prompt.system else []
            body["messages"] = [*system, {"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = f"{prompt.system} {prompt.text}" if prompt.system else prompt.text
        if self.config.ignore_eos:
            body["ignore_eos"] = True
        if stream:
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()

    async def send(self, body: bytes, stream: bool) -> RequestResult:
        """One request, timed; a failure is recorded in the result, never raised."""
        import aiohttp

        result = RequestResult()
        start = time.perf_counter()
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as response:
                if response.status >= 400:
                    text = await response.text()
                    error = error_for_status(response.status, text, url=self.url)
                    result.error = f"HTTP {response.status}: {error}"
                    return result
                if stream:
                    await self._read_stream(response, start, result)
                else:
                    _read_usage(json.loads(await response.read()), result)
                    result.ok = True
        except (TimeoutError, aiohttp.ClientError, ValueError, KeyError) as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.ok = False
        result.latency = time.perf_counter() - start
        return result

    async def _read_stream(
        self, response: aiohttp.ClientResponse, start: float, result: RequestResult
    ) -> None:
        # Raw pieces as they arrive, split into lines here: aiohttp's line reader
        # costs a client more than the parsing itself, and the arrival time of a
        # piece is the time of every event in it.
        stream = _StreamTiming(start, result)
        decoder = SSEDecoder()
        pending = b""
        async for piece in response.content.iter_any():
            now = time.perf_counter()
            *lines, pending = (pending + piece).split(b"\n")
            for line in lines:
                data = decoder.feed(line.decode())
                if data is not None and not stream.event(data, now):
                    stream.finish()
                    return
        data = decoder.feed(pending.decode()) or decoder.flush()
        if data is not None:
            stream.event(data, time.perf_counter())
        stream.finish()


class _StreamTiming:
    """TTFT and ITL of one stream, from its events and their arrival times."""

    def __init__(self, start: float, result: RequestResult) -> None:
        self.start = self.last = start
        self.result = result
        self.chunks = 0
        self.usage_seen = False
        self.failed = False

    def event(self, data: str, now: float) -> bool:
        """Take one event's data; False when the stream is over."""
        if data == SSE_DONE:
            return False
        payload = json.loads(data)
        if "error" in payload:
            self.result.error = f"error event: {json.dumps(payload['error'])[:300]}"
            self.failed = True
            return False
        if payload.get("usage"):
            _read_usage(payload, self.result)
            self.usage_seen = True
        choices = payload.get("choices")
        if not choices:
            return True
        choice = choices[0]
        text = choice["delta"].get("content") if "delta" in choice else choice.get("text")
        if not text:
            return True  # the role chunk, or a held-back piece: no token has arrived
        if self.result.ttft is None:
            self.result.ttft = now - self.start
        else:
            self.result.itls.append(now - self.last)
        self.last = now
        self.chunks += 1
        return True

    def finish(self) -> None:
        if self.failed:
            return
        if not self.usage_seen:
            self.result.output_tokens = self.chunks  # one token per content chunk, as a fallback
        if self.result.ttft is None:
            self.result.error = "the stream carried no content"
            return
        self.result.ok = True


def _read_usage(payload: dict[str, Any], result: RequestResult) -> None:
    usage = payload["usage"]
    result.prompt_tokens = int(usage.get("prompt_tokens") or 0)
    result.output_tokens = int(usage.get("completion_tokens") or 0)


async def _first_model(config: BenchConfig, session: aiohttp.ClientSession) -> str:
    url = api_root(config.base_url) + "/models"
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    async with session.get(url, headers=headers) as response:
        text = await response.text()
        if response.status >= 400:
            raise error_for_status(response.status, text, url=url)
    models = json.loads(text).get("data") or []
    if not models:
        raise InfercoreError(f"the server at {url} lists no model; pass --model")
    return str(models[0]["id"])


async def _check(target: _Target, body: bytes, stream: bool) -> RequestResult:
    result = await target.send(body, stream)
    if not result.ok:
        hint = ""
        if "ignore_eos" in result.error:
            hint = " (a server that does not take ignore_eos: add --no-ignore-eos)"
        raise InfercoreError(f"the test request to {target.url} failed: {result.error}{hint}")
    return result


async def _calibrate(target: _Target, rng: random.Random) -> Calibration:
    """This server's prompt tokens per word, and a request's fixed cost (a chat template's).

    Read from the prompt tokens that the server reports for two prompt lengths,
    near ``input_len``.
    """
    short = max(target.config.input_len, 8)
    long = 2 * short
    counts = []
    for count in (short, long):
        result = await _check(target, target.body(Prompt(words(rng, count), 1), False), False)
        counts.append(result.prompt_tokens)
    per_word = (counts[1] - counts[0]) / (long - short)
    if per_word <= 0:  # no usage reported: assume a token per word
        return Calibration(per_word=1.0, fixed=0.0)
    return Calibration(per_word=per_word, fixed=counts[0] - per_word * short)


async def _run(config: BenchConfig, session: aiohttp.ClientSession) -> dict[str, Any]:
    model = config.model or await _first_model(config, session)
    target = _Target(config, session, model)
    rng = random.Random(config.seed)
    calibration = await _calibrate(target, rng)
    prompts = build_prompts(config, calibration, rng)
    bodies = [target.body(prompt, config.stream) for prompt in prompts]
    await _check(target, bodies[0], config.stream)  # the whole path works, before timing

    queue: asyncio.Queue[int | None] = asyncio.Queue()
    results: list[RequestResult] = [RequestResult() for _ in bodies]

    async def arrive() -> None:
        gaps = random.Random(config.seed + 1)
        for index in range(len(bodies)):
            queue.put_nowait(index)
            if index + 1 < len(bodies) and not math.isinf(config.request_rate):
                await asyncio.sleep(gaps.expovariate(config.request_rate))
        for _ in range(config.concurrency):
            queue.put_nowait(None)

    async def work() -> None:
        # A request waits in the queue for a free worker: at most `concurrency` in flight.
        while (index := await queue.get()) is not None:
            results[index] = await target.send(bodies[index], config.stream)

    start = time.perf_counter()
    await asyncio.gather(arrive(), *(work() for _ in range(config.concurrency)))
    duration = time.perf_counter() - start
    figures = summarize(results, duration, config.goodput)
    settings = {
        "date": time.strftime("%Y%m%d-%H%M%S"),
        "base_url": config.base_url,
        "endpoint": config.endpoint,
        "model": model,
        "stream": config.stream,
        "ignore_eos": config.ignore_eos,
        "num_requests": config.num_requests,
        "concurrency": config.concurrency,
        "request_rate": config.request_rate,
        "input_len": config.input_len,
        "output_len": config.output_len,
        "lengths": config.lengths,
        "prefix_len": config.prefix_len,
        "prefix_share": config.prefix_share if config.prefix_len else 0.0,
        "goodput": dict(config.goodput),
        "prompt_words": calibration.prompt_words(config.input_len),
    }
    return {**settings, **figures}


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run the benchmark; every figure, keyed as in ``--result-json``.

    Raises :class:`InfercoreError` when aiohttp is missing, when a goodput
    target needs a stream that is off, or when the server fails the test
    request; failures during the run are counted instead.
    """
    if not config.stream and {"ttft", "tpot"} & set(config.goodput):
        raise InfercoreError("goodput targets on ttft or tpot need a stream: leave out --no-stream")
    try:
        import aiohttp
    except ImportError:
        raise InfercoreError(
            "infercore bench serve needs aiohttp: pip install 'infercore[bench]'"
        ) from None

    async def main() -> dict[str, Any]:
        connector = aiohttp.TCPConnector(limit=config.concurrency, ttl_dns_cache=300)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=config.timeout)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            return await _run(config, session)

    try:
        import uvloop  # a cheaper loop leaves more of a shared machine to the server
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())
