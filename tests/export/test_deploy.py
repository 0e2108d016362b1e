"""As docs/export.md walks a new user through it: export on the command line, serve the
folder with ``infercore deploy``, ask it with the official ``openai`` client."""

from __future__ import annotations

import subprocess
from pathlib import Path

import openai

from infercore.testing import INFERCORE_COMMAND, deployed

MODEL = "smollm2-135m-instruct"


def test_an_exported_folder_served_by_deploy_answers_the_openai_client(tmp_path: Path) -> None:
    export = [*INFERCORE_COMMAND, "export", "--model", MODEL, "--quant-method", "int8"]
    done = subprocess.run(export, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / f"{MODEL}-int8"
    assert f"serve it with: infercore deploy --model {folder}" in done.stdout

    # One torch thread: the server shares two cores with this client. float32, as the
    # export wrote it: on a CPU with native bfloat16, pt's auto dtype would compute in
    # bfloat16, and this small model's greedy answer then names another city.
    flags = ["--model", str(folder), "--backend", "pt", "-O", "dtype=float32"]
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}, start_timeout=300) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        answer = client.chat.completions.create(
            model=str(folder),
            messages=[{"role": "user", "content": "What is the capital of France?"}],
            temperature=0,
            max_tokens=16,
        )
    assert "Paris" in (answer.choices[0].message.content or "")
