"""The page: a gradio ``Blocks`` chat over a :class:`ChatTarget`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import gradio as gr

from infercore._app._answer import stream_answer
from infercore._app._conversation import Conversation
from infercore._app._settings import Setting, offered_settings
from infercore._app._target import ChatTarget
from infercore._app._uploads import UPLOAD_TYPES, upload_part
from infercore._errors import InfercoreError

__all__ = ["build_page"]

_DEFAULT_MAX_TOKENS = 512
_Outputs = tuple[list[dict[str, Any]], Conversation, str]


def _control(setting: Setting, value: Any) -> gr.components.Component:
    if setting.maximum - setting.minimum > 1000:  # a seed: no slider can pick among so many
        return gr.Number(
            value=value,
            label=setting.label,
            info=setting.info,
            precision=0,
            minimum=setting.minimum,
            maximum=setting.maximum,
            elem_id=setting.name,
        )
    return gr.Slider(
        setting.minimum,
        setting.maximum,
        value=value,
        step=setting.step,
        label=setting.label,
        info=setting.info,
        elem_id=setting.name,
    )


def build_page(
    target: ChatTarget, initial: Mapping[str, Any], stop: Sequence[str] | None = None
) -> gr.Blocks:
    """The chat page for ``target``.

    ``initial`` gives the controls' starting values (the command line's generation
    flags; ``max_tokens`` among them); ``stop`` the stop strings every answer takes.
    """
    sampling = {name: value for name, value in initial.items() if name != "max_tokens"}
    offered = offered_settings(target.sampling, sampling)
    ceiling = target.max_tokens or 32768
    page = gr.Blocks(title="infercore", analytics_enabled=False)
    with page:
        conversation = gr.State(Conversation())
        gr.Markdown(f"### {target.title}")
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="chat", height=480, buttons=["copy", "copy_all"]
                )
                figures = gr.Markdown(elem_id="figures")
                prompt = gr.MultimodalTextbox(
                    placeholder="Ask something",
                    show_label=False,
                    elem_id="prompt",
                    sources=["upload"] if target.media else [],
                    file_types=[UPLOAD_TYPES[kind] for kind in sorted(target.media)] or None,
                    file_count="multiple",
                )
                with gr.Row():
                    stop_button = gr.Button("Stop", elem_id="stop", variant="stop")
                    regenerate = gr.Button("Regenerate", elem_id="regenerate")
                    clear = gr.Button("Clear", elem_id="clear")
                running = gr.Markdown(elem_id="running", visible=target.running is not None)
            with gr.Column(scale=1):
                system = gr.Textbox(label="System prompt", lines=3, elem_id="system")
                model = gr.Dropdown(
                    choices=list(target.models),
                    value=target.models[0],
                    label="Answer with (base model or LoRA adapter)",
                    interactive=len(target.models) > 1,
                    elem_id="model",
                )
                max_tokens = gr.Slider(
                    1,
                    ceiling,
                    value=min(initial.get("max_tokens", _DEFAULT_MAX_TOKENS), ceiling),
                    step=1,
                    label="Max tokens",
                    elem_id="max_tokens",
                )
                controls = [_control(setting, value) for setting, value in offered]
        names = ["max_tokens", *(setting.name for setting, _ in offered)]
        unset = {setting.name: setting.unset for setting, _ in offered}
        whole = {"max_tokens", *(s.name for s, _ in offered if float(s.step).is_integer())}

        def ask(message: dict[str, Any], state: Conversation) -> tuple[Any, Conversation, Any]:
            text = (message or {}).get("text", "").strip()
            files = [str(path) for path in (message or {}).get("files", [])]
            if not text and not files:
                raise gr.Error("Type a question first.")
            try:
                parts = [upload_part(path, target.media, target.media_limits) for path in files]
            except InfercoreError as exc:
                raise gr.Error(str(exc)) from exc
            state.ask(text, files, parts)
            return gr.MultimodalTextbox(value=None), state, state.display()

        async def answer(
            state: Conversation, system_prompt: str, name: str, *values: Any
        ) -> AsyncIterator[_Outputs]:
            settings: dict[str, Any] = {
                key: int(value) if key in whole else value
                for key, value in zip(names, values, strict=True)
                if value is not None and value != unset.get(key)
            }
            if stop:
                settings["stop"] = list(stop)
            try:
                async for clock in stream_answer(target, state, system_prompt, name, settings):
                    yield state.display(), state, clock.summary()
            except InfercoreError as exc:
                raise gr.Error(str(exc)) from exc

        def forget(state: Conversation) -> tuple[Conversation, list[dict[str, Any]]]:
            if not state.forget_last_answer():
                raise gr.Error("Nothing to regenerate yet.")
            return state, state.display()

        inputs = [conversation, system, model, max_tokens, *controls]
        outputs = [chatbot, conversation, figures]
        # The chat shows its pending bubble; the figures line says "Answering…" itself.
        answers = {"concurrency_limit": target.concurrency, "show_progress_on": [chatbot]}
        asked = prompt.submit(ask, [prompt, conversation], [prompt, conversation, chatbot])
        answering = asked.success(answer, inputs, outputs, **answers)
        redo = regenerate.click(forget, [conversation], [conversation, chatbot])
        redoing = redo.success(answer, inputs, outputs, **answers)
        # Said once the cancelled answer's last update has reached the page.
        stopping = stop_button.click(None, cancels=[answering, redoing])
        stopping.then(lambda: "Stopped.", None, figures)
        # The chat's own bin clears as the Clear button does.
        gr.on(
            [clear.click, chatbot.clear],
            lambda: (Conversation(), [], ""),
            None,
            [conversation, chatbot, figures],
            cancels=[answering, redoing],
        )
        if target.running is not None:
            read = target.running
            gr.Timer(1.0).tick(
                lambda: f"Requests running in the engine: {read()}",
                None,
                running,
                concurrency_limit=None,
                show_progress="hidden",
            )
    return page
