"""SmolLM2 behind a chat template that does tool calling, for tests.

The built-in SmolLM2's own template has no tools, and no model with a tool-calling
template can be downloaded here: this folder is SmolLM2's files (linked) with the
Hermes/Qwen tool template of ``hermes_tools.jinja`` in its tokenizer config, so the
weights and the answers stay SmolLM2's while tools, earlier calls and tool results go
through a real template the way a Qwen or Hermes model's do.
"""

from __future__ import annotations

import json
from pathlib import Path

import infercore

__all__ = ["HERMES_TEMPLATE", "make_smollm2_with_tools"]

HERMES_TEMPLATE = (Path(__file__).parent / "hermes_tools.jinja").read_text()


def make_smollm2_with_tools(folder: Path) -> Path:
    """SmolLM2 with the Hermes tool template, in ``folder``; returns the folder."""
    source = Path(infercore.get_plugin_manager().registry.resolve_model("smollm2-135m-instruct"))
    folder.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name != "tokenizer_config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((source / "tokenizer_config.json").read_text())
    config["chat_template"] = HERMES_TEMPLATE
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
