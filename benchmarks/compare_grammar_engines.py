"""xgrammar against llguidance as the pt batch uses a grammar engine: the figures that chose it.

32 requests decode together on SmolLM2 in the pt backend's batch, each constrained
by one realistic JSON schema, sampled at temperature 1 from a seeded generator. Each
engine compiles the schema, then at every step fills each live row's token bitmask,
masks the batch's logits and accepts the sampled token, until every row's JSON is
complete. The grammar's time per step is set beside the model's.

    python benchmarks/compare_grammar_engines.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import torch

import infercore
from infercore_pt._batch import Batch

ROWS = 32
MAX_STEPS = 100
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "email": {"type": "string", "pattern": "^[a-z]+@[a-z]+\\.[a-z]{2,3}$"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 4},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 30}, "zip": {"type": "string"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "email", "tags", "address", "active"],
    "additionalProperties": False,
}


class Row(Protocol):
    """One row's matcher: fills its bitmask row, accepts a token, says when it is done."""

    def fill(self, bitmask: torch.Tensor, index: int) -> None: ...
    def accept(self, token: int) -> None: ...
    def done(self) -> bool: ...


#: An engine: (compile seconds, a factory of rows, the function that masks logits).
Engine = tuple[float, Callable[[], Row], Callable[[torch.Tensor, torch.Tensor], None]]


def xgrammar_engine(tokenizer: Any, vocab: int) -> Engine:
    import xgrammar as xgr

    info = xgr.TokenizerInfo.from_huggingface(
        tokenizer, vocab_size=vocab, stop_token_ids=[tokenizer.eos_token_id]
    )
    start = time.perf_counter()
    compiled = xgr.GrammarCompiler(info).compile_json_schema(
        json.dumps(SCHEMA), any_whitespace=False
    )
    compile_s = time.perf_counter() - start

    class XgrammarRow:
        def __init__(self) -> None:
            self.matcher = xgr.GrammarMatcher(compiled)

        def fill(self, bitmask: torch.Tensor, index: int) -> None:
            self.matcher.fill_next_token_bitmask(bitmask, index)

        def accept(self, token: int) -> None:
            assert self.matcher.accept_token(token)

        def done(self) -> bool:
            return bool(self.matcher.is_terminated())

    return compile_s, XgrammarRow, xgr.apply_token_bitmask_inplace


def llguidance_engine(tokenizer: Any, vocab: int) -> Engine:
    import llguidance
    import llguidance.hf
    import llguidance.torch

    lltokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab)
    start = time.perf_counter()
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        SCHEMA, defaults={"whitespace_flexible": False}
    )
    error = llguidance.LLMatcher.validate_grammar(grammar, lltokenizer)
    assert not error, error
    compile_s = time.perf_counter() - start

    class LlguidanceRow:
        def __init__(self) -> None:
            self.matcher = llguidance.LLMatcher(lltokenizer, grammar)

        def fill(self, bitmask: torch.Tensor, index: int) -> None:
            llguidance.torch.fill_next_token_bitmask(self.matcher, bitmask, index)

        def accept(self, token: int) -> None:
            assert self.matcher.consume_token(token), self.matcher.get_error()

        def done(self) -> bool:
            return bool(self.matcher.is_stopped())

    return compile_s, LlguidanceRow, llguidance.torch.apply_token_bitmask_inplace


def measure(name: str, engine: Engine, model: Any, pad_id: int, prompts: list[list[int]]) -> None:
    compile_s, make_row, apply = engine
    vocab = model.config.vocab_size
    rows = [make_row() for _ in prompts]
    generator = torch.Generator().manual_seed(0)
    batch, logits = Batch.prefill(model, list(range(len(prompts))), prompts, pad_id)
    steps = tokens = 0
    grammar_s = model_s = 0.0
    while batch.members and steps < MAX_STEPS:
        live = batch.members
        start = time.perf_counter()
        logits = logits.float()
        bitmask = torch.full((len(live), (vocab + 31) // 32), -1, dtype=torch.int32)
        for slot, index in enumerate(live):
            rows[index].fill(bitmask, slot)
        apply(logits, bitmask)
        picked = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(1)
        for slot, index in enumerate(live):
            rows[index].accept(int(picked[slot]))
        grammar_s += time.perf_counter() - start
        tokens += len(live)
        steps += 1
        batch.pending = picked
        batch.keep([slot for slot, index in enumerate(live) if not rows[index].done()])
        if batch.members:
            start = time.perf_counter()
            logits = batch.step(model)
            model_s += time.perf_counter() - start
    print(
        f"{name:11s} compile {compile_s * 1e3:6.1f} ms   grammar {grammar_s / steps * 1e3:5.2f} ms "
        f"per batch step ({grammar_s / tokens * 1e6:5.1f} us per token); the model "
        f"{model_s / steps * 1e3:6.1f} ms per step; {steps} steps, {len(batch.members)} of "
        f"{len(prompts)} rows unfinished"
    )


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = infercore.get_plugin_manager().registry.resolve_model("smollm2-135m-instruct")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    vocab = model.config.vocab_size
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": f"Describe person number {i} as JSON."}],
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        for i in range(ROWS)
    ]
    with torch.inference_mode():
        for name, build in (("xgrammar", xgrammar_engine), ("llguidance", llguidance_engine)):
            measure(name, build(tokenizer, vocab), model, tokenizer.eos_token_id, prompts)


if __name__ == "__main__":
    main()
