"""Dataset jobs on a Ray cluster: :class:`EngineBatches`, a callable class for Ray Data.

Ray Data's ``map_batches`` runs a callable class as a pool of actors: each
actor builds one :class:`~infercore.Engine` in ``__init__`` and answers the
batches it is handed. Rows may be in any shape that
:func:`infercore.infer_dataset` reads (ms-swift ``messages`` with ``images``,
alpaca ``instruction``/``input``/``output``, ``query``/``response``, OpenAI
request bodies); each batch comes back with its own columns and the answer's.

Install with ``pip install "infercore[ray]"`` beside the backend (``infercore[pt]``
or ``infercore[vllm]``). This module needs nothing from Ray itself.

The transformers backend on CPU nodes, two actors::

    import ray
    from infercore.ray import EngineBatches

    ray.init()
    ds = ray.data.read_json("rows.jsonl")
    answered = ds.map_batches(
        EngineBatches,
        fn_constructor_kwargs={
            "model": "smollm2-135m-instruct",
            "backend": "pt",
            "options": {"dtype": "float32"},
            "config": {"temperature": 0, "max_tokens": 256},
        },
        compute=ray.data.ActorPoolStrategy(size=2),  # two actors, an engine each
        num_cpus=4,  # CPUs each actor holds (torch's threads)
        batch_size=32,  # rows answered together: the backend batches them
    )
    answered.write_json("results/")

vLLM on GPU nodes, one GPU for each of four actors::

    answered = ds.map_batches(
        EngineBatches,
        fn_constructor_kwargs={
            "model": "Qwen/Qwen2.5-7B-Instruct",
            "backend": "vllm",
            "options": {"gpu_memory_utilization": 0.9, "max_model_len": 8192},
            "config": {"temperature": 0.7, "max_tokens": 1024, "seed": 0},
        },
        compute=ray.data.ActorPoolStrategy(size=4),
        num_gpus=1,
        batch_size=256,  # vLLM schedules the whole batch at once
    )

Each output row is its input row plus these columns:

- ``response``: the answer's text (a list of ``n`` texts when the config asks for
  ``n`` > 1); None for a row that failed. It replaces a query/response row's own
  ``response``, the reference answer, which is in ``labels``.
- ``finish_reason``: ``stop``, ``length`` or ``tool_calls`` (a list for ``n`` > 1).
- ``prompt_tokens``, ``completion_tokens``: the row's usage; 0 for a row that failed.
- ``labels``: the row's reference answer (its last assistant message, ``output`` or
  ``response``), which is never sent to the model.
- ``error``: None, or the row's own fault as the OpenAI API shapes an error (a dict
  of ``type``, ``message``, ``param``, ``code``): a row of no known shape, a missing
  image, a prompt over the context, a failure of the backend on that request. The
  other rows of the batch are answered all the same. Its message numbers the row
  by its place in its batch.
- ``logprobs``: only when ``config`` asks for logprobs; the answer's token logprobs.

A request body row's own settings (``max_tokens``, ``temperature``, ...) apply to
that row over ``config``. Batches come in Ray's default ``numpy`` format (columns
of numpy arrays, which are turned back into plain lists, dicts and None before a
row is read) or, with ``batch_format="pandas"``, as a DataFrame; the answer comes
back in the same form, its columns of objects (lists, structs) as plain lists and
dicts, which Ray stores as Arrow lists and structs again. (Before Ray 2.51,
``concurrency=2`` is the spelling of ``compute=ActorPoolStrategy(size=2)``.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from infercore._aio import gather
from infercore._coerce import ConfigLike, as_config, for_whole_responses
from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._jobs._dataset import answer_row
from infercore._jobs._runner import Line

__all__ = ["EngineBatches"]

_ANSWER_COLUMNS = (
    "response",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "labels",
    "error",
)
_COUNTS = frozenset({"prompt_tokens", "completion_tokens"})


class EngineBatches:
    """A Ray Data callable class: ``ds.map_batches(EngineBatches, fn_constructor_kwargs=...)``.

    ``model``, ``backend``, ``options`` (the backend's typed options, such as
    ``dtype`` or ``gpu_memory_utilization``) and ``adapters`` (LoRA adapter names
    to paths) build the actor's :class:`~infercore.Engine`; ``adapter`` names the
    one of them that answers every row (None: the base model). ``config`` is the
    generation config for every row (a :class:`~infercore.RequestConfig` or its
    mapping); it cannot ask to stream. A bad config or adapter name raises
    :class:`~infercore.InvalidRequestError` before the model loads.

    Calling the instance on a batch answers all its rows at once, so the backend
    batches them, and returns the batch with the answer's columns added (see the
    module's documentation). ``engine`` is the instance's Engine; :meth:`close`
    releases it, and an actor's engine is released when the actor ends.
    """

    def __init__(
        self,
        model: str,
        backend: str = "auto",
        *,
        options: Mapping[str, Any] | None = None,
        adapters: Mapping[str, str] | None = None,
        adapter: str | None = None,
        config: ConfigLike = None,
    ) -> None:
        self.config = for_whole_responses(as_config(config), "EngineBatches")
        if adapter is not None and adapter not in (adapters or {}):
            known = ", ".join(sorted(adapters or {})) or "none"
            raise InvalidRequestError(
                f"adapter {adapter!r} is not one of the adapters given (known: {known}); "
                "name it in adapters with its path",
                param="adapter",
            )
        self.engine = Engine(model, backend=backend, adapters=adapters, **dict(options or {}))
        self._answer = partial(answer_row, self.engine, self.config, adapter=adapter)

    def __call__(self, batch: Any) -> Any:
        """``batch`` (a dict of columns, or a pandas DataFrame) with the answer's columns."""
        records = _records(batch)
        lines = self.engine.run_on_loop(self._answer_all(records))
        columns = {
            # Ray cannot turn an object column of arrays (how it hands over lists and
            # structs) back into Arrow, and would keep it as pickled objects that
            # write_json cannot write: the batch's own object columns go back plain.
            **{
                str(name): [record[str(name)] for record in records]
                for name in batch
                if _holds_objects(batch[name])
            },
            **_answer_columns(lines, logprobs=bool(self.config.logprobs)),
        }
        answered = dict(batch) if isinstance(batch, Mapping) else batch.copy()
        for name, values in columns.items():
            answered[name] = _array(name, values)
        return answered

    def close(self) -> None:
        """Release the engine. Idempotent."""
        self.engine.close()

    async def _answer_all(self, records: list[dict[str, Any]]) -> list[Line]:
        # Every row at once on the engine's loop: the backend sees them together.
        # A row's own fault is its line's error, so one bad row fails only itself.
        return await gather([self._answer(item) for item in enumerate(records)])


def _records(batch: Any) -> list[dict[str, Any]]:
    """The batch's rows as plain Python objects, the way a JSON reader gives them."""
    if isinstance(batch, Mapping):
        names = list(batch)
        count = len(batch[names[0]]) if names else 0
        return [{name: _plain(batch[name][i]) for name in names} for i in range(count)]
    to_dict = getattr(batch, "to_dict", None)
    if callable(to_dict) and hasattr(batch, "columns"):  # a pandas DataFrame
        return [
            {str(name): _plain(value) for name, value in row.items()} for row in to_dict("records")
        ]
    raise TypeError(
        f"EngineBatches takes batches of columns (batch_format='numpy', the default) or "
        f"pandas DataFrames (batch_format='pandas'), not {type(batch).__name__}"
    )


def _holds_objects(column: Any) -> bool:
    """Whether ``column`` (a numpy array or a pandas Series) holds Python objects."""
    return getattr(getattr(column, "dtype", None), "kind", None) == "O"


def _plain(value: Any) -> Any:
    """``value`` with numpy arrays and scalars turned into lists and Python scalars.

    Ray hands a list column over as an object array of arrays, and a struct as a
    dict whose values may be arrays again; the row readers take JSON's types.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        # numpy and pandas write a missing value of a number column as NaN.
        return None if value != value else float(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return _plain(tolist())
    return value


def _answer_columns(lines: Sequence[Line], *, logprobs: bool) -> dict[str, list[Any]]:
    """The answer's columns, one value per line, from the lines a dataset job would write."""
    names = (*_ANSWER_COLUMNS, "logprobs") if logprobs else _ANSWER_COLUMNS
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for line in lines:
        record = line.record
        for name in names:
            columns[name].append(record.get(name))
        columns["prompt_tokens"][-1] = line.prompt_tokens
        columns["completion_tokens"][-1] = line.completion_tokens
    return columns


def _array(name: str, values: list[Any]) -> Any:
    """Column ``name`` as a one-dimensional numpy array: of int64 for counts, else of
    objects, filled item by item so that a list (``n`` answers, logprobs) stays one
    item instead of becoming a second dimension."""
    import numpy as np  # Ray brings numpy; importing this module does not need it

    if name in _COUNTS:
        return np.asarray(values, dtype=np.int64)
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array
