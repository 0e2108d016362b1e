"""Small multimodal models for tests, built on the spot around the built-in SmolLM2.

No model hub is reachable, so the media path is tested on models assembled
from configs: the trained SmolLM2 text model (so answers stay fluent) behind
a tiny random vision or audio tower, saved with the model family's real
processor, so the processor's own placeholder expansion and preprocessing run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["make_idefics3_model", "make_qwen2_audio_model", "make_qwen2_vl_model"]

_TEXT_MODEL = "smollm2-135m-instruct"


def _chatml_template(placeholders: dict[str, str]) -> str:
    """SmolLM2's ChatML layout, so the trained text model answers fluently, with
    each media part type rendered as the placeholder its processor expands."""
    media = "".join(
        f"{{% elif part['type'] == '{kind}' %}}{placeholder}"
        for kind, placeholder in placeholders.items()
    )
    return (
        "{% for message in messages %}"
        "<|im_start|>{{ message['role'] }}\n"
        "{% if message['content'] is string %}{{ message['content'] }}"
        "{% else %}{% for part in message['content'] %}"
        "{% if part['type'] == 'text' %}{{ part['text'] }}"
        f"{media}{{% endif %}}"
        "{% endfor %}{% endif %}"
        "<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )


@dataclass
class _SmolLM2:
    """SmolLM2's tokenizer with a model family's special tokens added, and its config.

    ``config.vocab_size`` is grown to hold the added tokens.
    """

    path: str
    tokenizer: Any
    config: Any
    pad_id: int

    @classmethod
    def load(cls, added_tokens: list[str]) -> _SmolLM2:
        from transformers import AutoConfig, AutoTokenizer

        import infercore

        path = infercore.get_plugin_manager().registry.resolve_model(_TEXT_MODEL)
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.add_special_tokens({"additional_special_tokens": added_tokens})
        config = AutoConfig.from_pretrained(path)
        # Room for the added tokens; a multiple of 64 as checkpoints like it.
        config.vocab_size = -(-len(tokenizer) // 64) * 64
        pad_id = tokenizer.pad_token_id
        if pad_id is None or pad_id >= config.vocab_size:
            pad_id = tokenizer.eos_token_id
        return cls(path, tokenizer, config, pad_id)

    def install(self, model: Any, decoder: Any) -> None:
        """Copy SmolLM2's weights into ``decoder``, ``model``'s language model.

        A parameter SmolLM2 lacks (the attention biases of a Qwen2 decoder)
        is zeroed, which leaves the computation SmolLM2's. The added tokens'
        embedding rows are drawn from torch's generator.
        """
        import torch
        from transformers import AutoModelForCausalLM

        text = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
        text.resize_token_embeddings(self.config.vocab_size, mean_resizing=False)
        with torch.no_grad():
            missing, unexpected = decoder.load_state_dict(text.model.state_dict(), strict=False)
            if unexpected or any(not name.endswith(".bias") for name in missing):
                raise ValueError(f"SmolLM2 does not fit: {missing=} {unexpected=}")
            for name in missing:
                decoder.get_parameter(name).zero_()
            model.lm_head.weight.copy_(text.lm_head.weight)
        if self.config.tie_word_embeddings:
            model.tie_weights()
        model.generation_config.eos_token_id = text.generation_config.eos_token_id
        model.generation_config.pad_token_id = self.pad_id


def _save(folder: Path, model: Any, processor: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


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
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    text = _SmolLM2.load(
        [
            "<fake_token_around_image>",
            "<image>",
            "<end_of_utterance>",
            "<global-img>",
            *(f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)),
        ]
    )
    config = Idefics3Config(
        text_config=text.config.to_dict(),
        vision_config={
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": _TILE,
            "patch_size": _PATCH,
        },
        scale_factor=_SCALE_FACTOR,
        image_token_id=text.tokenizer.convert_tokens_to_ids("<image>"),
        pad_token_id=text.pad_id,
        tie_word_embeddings=text.config.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    text.install(model, model.model.text_model)
    with torch.no_grad():
        # A random vision tower's outputs are tiny next to trained text
        # embeddings; scale the connector so images visibly steer the logits.
        model.model.connector.modality_projection.proj.weight.mul_(3.0)
    image_processor = Idefics3ImageProcessorPil(
        size={"longest_edge": 2 * _TILE},
        max_image_size={"longest_edge": _TILE},
        do_image_splitting=True,
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=text.tokenizer,
        image_seq_len=_IMAGE_SEQ_LEN,
        chat_template=_chatml_template({"image": "<image>"}),
    )
    return _save(folder, model, processor)


#: Qwen2-VL cuts pixels into 14x14 patches, 2 frames deep, and merges 2x2
#: patches into one token: each token covers 28x28 pixels of a pair of frames.
_QWEN2_VL_PIXELS_PER_TOKEN = 28 * 28


def make_qwen2_vl_model(folder: Path, *, seed: int = 0) -> Path:
    """Save a Qwen2-VL model with SmolLM2's text weights into ``folder``.

    SmolLM2 is a Llama decoder, which is Qwen2's without the attention biases
    (zeroed here); with text alone, Qwen2-VL's multimodal rotary positions
    (sections 8/12/12 of the 32 frequencies) equal SmolLM2's, so text answers
    are SmolLM2's. The vision tower (two layers of width 64) is random but
    seeded. Images are resized to multiples of 28 pixels under 4 x 28 x 28
    x 4 pixels (at most 16 tokens); a video's frames to at most 2 x 28 x 28
    x 4 pixels (at most 8 tokens per pair of frames), so a 64x48 video
    becomes 2x2 tokens for each two frames. Needs torch, transformers and
    torchvision (transformers' video processors use it); returns ``folder``.
    """
    import torch
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    text = _SmolLM2.load(["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"])
    ids = text.tokenizer.convert_tokens_to_ids
    text_config = text.config.to_dict()
    text_config["rope_parameters"] = {
        **text.config.rope_parameters,
        "mrope_section": [8, 12, 12],
    }
    config = Qwen2VLConfig(
        text_config=text_config,
        vision_config={
            "depth": 2,
            "embed_dim": 64,
            "num_heads": 4,
            "mlp_ratio": 2,
            "hidden_size": text.config.hidden_size,
        },
        image_token_id=ids("<|image_pad|>"),
        video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"),
        vision_end_token_id=ids("<|vision_end|>"),
        pad_token_id=text.pad_id,
        tie_word_embeddings=text.config.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config).to(torch.float32).eval()
    text.install(model, model.model.language_model)
    with torch.no_grad():
        # As for Idefics3: make the random tower's output count next to the text.
        model.model.visual.merger.mlp[-1].weight.mul_(3.0)
    budget = _QWEN2_VL_PIXELS_PER_TOKEN
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(
            size={"shortest_edge": budget, "longest_edge": 16 * budget}
        ),
        video_processor=Qwen2VLVideoProcessor(
            size={"shortest_edge": budget, "longest_edge": 4 * budget},
            cap_pixels_per_frame=True,
        ),
        tokenizer=text.tokenizer,
        chat_template=_chatml_template(
            {
                "image": "<|vision_start|><|image_pad|><|vision_end|>",
                "video": "<|vision_start|><|video_pad|><|vision_end|>",
            }
        ),
    )
    return _save(folder, model, processor)


def make_qwen2_audio_model(folder: Path, *, seed: int = 0) -> Path:
    """Save a Qwen2-Audio model with SmolLM2's text weights into ``folder``.

    The language model is a Qwen2 decoder (as vLLM's Qwen2-Audio requires)
    holding SmolLM2's weights with zero attention biases, which computes
    exactly what SmolLM2 does. The audio tower (two Whisper-style layers of
    width 64 over 128 mel bins) is random but seeded. The real Whisper
    feature extractor turns 16 kHz audio into 100 frames a second, and the
    processor gives one audio token per 40 ms: 25 for a second. Needs torch
    and transformers; returns ``folder``.
    """
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        Qwen2Config,
        WhisperFeatureExtractor,
    )

    text = _SmolLM2.load(["<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"])
    smol = text.config
    text_config = Qwen2Config(
        vocab_size=smol.vocab_size,
        hidden_size=smol.hidden_size,
        intermediate_size=smol.intermediate_size,
        num_hidden_layers=smol.num_hidden_layers,
        num_attention_heads=smol.num_attention_heads,
        num_key_value_heads=smol.num_key_value_heads,
        max_position_embeddings=smol.max_position_embeddings,
        rms_norm_eps=smol.rms_norm_eps,
        rope_parameters=smol.rope_parameters,
        tie_word_embeddings=smol.tie_word_embeddings,
    )
    config = Qwen2AudioConfig(
        audio_config={
            "d_model": 64,
            "encoder_layers": 2,
            "encoder_attention_heads": 4,
            "encoder_ffn_dim": 128,
            "num_mel_bins": 128,
        },
        text_config=text_config.to_dict(),
        audio_token_index=text.tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
        pad_token_id=text.pad_id,
        tie_word_embeddings=smol.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config).to(torch.float32).eval()
    text.install(model, model.model.language_model)
    with torch.no_grad():
        # As for the vision towers: make the random tower's output count.
        model.model.multi_modal_projector.linear.weight.mul_(3.0)
    processor = Qwen2AudioProcessor(
        feature_extractor=WhisperFeatureExtractor(feature_size=128),
        tokenizer=text.tokenizer,
        chat_template=_chatml_template({"audio": "<|audio_bos|><|AUDIO|><|audio_eos|>"}),
    )
    # transformers 5 would save the decoder as "language_model.model.model.*",
    # which only transformers reads back; vLLM reads the layout of the
    # published Qwen2-Audio checkpoints, and transformers reads that too.
    renames = {
        "model.language_model.": "language_model.model.",
        "model.audio_tower.": "audio_tower.",
        "model.multi_modal_projector.": "multi_modal_projector.",
        "lm_head.": "language_model.lm_head.",
    }
    published = {}
    for name, tensor in model.state_dict().items():
        prefix = next(p for p in renames if name.startswith(p))
        # A tied head is its own copy here: safetensors stores no shared tensors.
        published[renames[prefix] + name[len(prefix) :]] = tensor.clone()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, state_dict=published, save_original_format=False)
    processor.save_pretrained(folder)
    return folder
