"""LoRA merging and quantization: what ``infercore export`` runs, as Python calls.

Install with ``pip install "infercore[export]"`` (peft, transformers, torch), and
``"infercore[export,quant]"`` for quantization (torchao, bitsandbytes), or
``"infercore[export,compress]"`` for GPTQ, AWQ and FP8 (llm-compressor). This module
itself imports none of them::

    from infercore.export import merge_lora, quantize

    merged = merge_lora("Qwen/Qwen2.5-0.5B-Instruct", "my-adapter")  # my-adapter-merged
    small = quantize(str(merged), "bnb", bits=4)  # my-adapter-merged-bnb4

Each returns the folder it wrote, a checkpoint that ``infercore.Engine`` and
``infercore deploy`` load on pt (and the merged one on vLLM).
"""

from infercore._export import DTYPES, QUANT_METHODS, QuantMethod, export, merge_lora, quantize

__all__ = ["DTYPES", "QUANT_METHODS", "QuantMethod", "export", "merge_lora", "quantize"]
