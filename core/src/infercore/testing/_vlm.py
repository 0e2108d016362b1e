"""Small vision-language models for tests, built on the spot around the built-in SmolLM2.

No model hub is reachable, so the media path is tested on models assembled
from configs: the trained SmolLM2 text model (so answers stay fluent) behind
a tiny random vision tower, saved with the model family's real processor, so
the processor's own placeholder expansion and pixel preprocessing run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_idefics3_model"]

_TEXT_MODEL = "smollm2-135m-instruct"

#: SmolLM2's ChatML layout, so the trained text model answers fluently, with
#: ``{"type": "image"}`` parts rendered as ``<image>`` for the processor to expand.
_IDEFICS3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}<image>{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: The vision tower sees 64x64 tiles through 16x16 patches; pixel shuffle by 2
#: leaves (64/16)^2 / 2^2 = 4 image tokens per tile.
_TILE = 64
_PATCH = 16
_SCALE_FACTOR = 2
_IMAGE_SEQ_LEN = (_TILE // _PATCH) ** 2 // _SCALE_FACTOR**2


def make_idefics3_model(folder: Path, *, seed: int = 0) -> Path:
    """Save an Idefics3 (SmolVLM) model with SmolLM2's text weights into ``folder``.

    The vision tower (two SigLIP layers of width 64) and the connector are
    random but seeded, so two different images give different logits (and, for
    clearly different images, different greedy answers). Images
    are resized to at most 128 pixels a side and split into 64x64 tiles plus
    a global view: a 100x120 image becomes four tiles and the global image, 4
    tokens each, and "What is in this image?" with it renders to 48 prompt tokens.
    Needs torch and transformers; returns ``folder``.
    """
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForCausalLM,
        AutoTokenizer,
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    import infercore

    text_path = infercore.get_plugin_manager().registry.resolve_model(_TEXT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(text_path)
    tokenizer.add_special_tokens(
        {
            "additional_special_tokens": [
                "<fake_token_around_image>",
                "<image>",
                "<end_of_utterance>",
                "<global-img>",
                *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
            ]
        }
    )
    text_config = AutoConfig.from_pretrained(text_path)
    # Room for the added tokens; a multiple of 64 as checkpoints like it.
    vocab = -(-len(tokenizer) // 64) * 64
    text_config.vocab_size = vocab
    pad_id = tokenizer.pad_token_id
    if pad_id is None or pad_id >= vocab:
        pad_id = tokenizer.eos_token_id
    config = Idefics3Config(
        text_config=text_config.to_dict(),
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": _TILE,
            "patch_size": _PATCH,
        },
        scale_factor=_SCALE_FACTOR,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=pad_id,
        tie_word_embeddings=text_config.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    text = AutoModelForCausalLM.from_pretrained(text_path, dtype=torch.float32)
    text.resize_token_embeddings(vocab, mean_resizing=False)
    with torch.no_grad():
        # The added tokens' rows were drawn by resize_token_embeddings; the
        # rest are SmolLM2's own, so the text part answers as SmolLM2 does.
        model.model.text_model.load_state_dict(text.model.state_dict())
        model.lm_head.weight.copy_(text.lm_head.weight)
        # A random vision tower's outputs are tiny next to trained text
        # embeddings; scale the connector so images visibly steer the logits.
        model.model.connector.modality_projection.proj.weight.mul_(3.0)
    if text_config.tie_word_embeddings:
        model.tie_weights()
    model.generation_config.eos_token_id = text.generation_config.eos_token_id
    model.generation_config.pad_token_id = pad_id

    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 2 * _TILE},
        max_image_size={"longest_edge": _TILE},
        do_image_splitting=True,
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=_IMAGE_SEQ_LEN,
        chat_template=_IDEFICS3_CHAT_TEMPLATE,
    )
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
