"""`submit`: final answers, validated against a JSON Schema, kept in `submissions`.

Submitting returns a `Receipt`: which submission it is, what and how large, which schema it passed
and the start of its JSON. The receipt carries the answer itself only up to `SEND_LIMIT` bytes of
JSON, so a huge answer is acknowledged without being copied out of the kernel again.

Whoever must know of each answer recorded (the checkpoint keeps them) subscribes to `Submissions`.
The MCP tool submits from a kernel subshell, possibly while a cell (which may submit too) runs:
answers are numbered and appended one at a time, and `variable` is read as bound at that instant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic_core import to_json as json_bytes
from pydantic_core import to_jsonable_python

from memex_mcp.jsonschemas import jsonschema as load_jsonschema
from memex_mcp.protocol import NOTHING_TO_SUBMIT, SEND_LIMIT, SubmitReceipt
from memex_mcp.runtime.scope import attr_or_none
from memex_mcp.text import shorten

_PREVIEW = 300
_MISSING = object()


#: Where an answer came from: the `submit()` of the kernel's code, or the MCP tool, outside any cell.
Origin = Literal["code", "tool"]


class SubmitError(Exception):
    """The answer cannot be accepted; the message says what to fix."""


class Submissions:
    def __init__(self, namespace: dict[str, Any], answer_schema: Mapping[str, Any] | None = None) -> None:
        self._ns = namespace
        self.answer_schema = answer_schema
        self._listeners: list[Callable[[SubmitReceipt, Origin], None]] = []
        self._recording = threading.Lock()

    def subscribe(self, listener: Callable[[SubmitReceipt, Origin], None]) -> None:
        """Call `listener(receipt, origin)` after each answer is recorded, in the submitting thread."""
        self._listeners.append(listener)

    @property
    def items(self) -> list[Any]:
        items: list[Any] = self._ns.setdefault("submissions", [])
        return items

    def submit(
        self,
        value: Any = None,
        variable: str | None = None,
        schema: Mapping[str, Any] | None = None,
        origin: Origin = "code",
    ) -> Receipt:
        """Validate and record an answer (its JSON form) in `submissions`, then tell the listeners.
        None is no answer."""
        if variable is not None:
            value = self._ns.get(variable, _MISSING)
            if value is _MISSING:
                raise SubmitError(f"There is no variable {variable!r} in the scope; list_scope shows what exists.")
            if value is None:
                raise SubmitError(
                    f"`{variable}` is None: there is nothing to submit. Put the answer in it, "
                    "or pass the answer as `value`."
                )
        elif value is None:
            raise SubmitError(NOTHING_TO_SUBMIT)
        answer = to_json(value)
        source: Literal["call", "server", "none"] = "call" if schema is not None else "none"
        if schema is None and self.answer_schema is not None:
            schema, source = self.answer_schema, "server"
        if schema is not None:
            validate(answer, schema)
        with self._recording:
            items = self.items
            items.append(answer)
            number = len(items)
        recorded = receipt(number, answer, source)
        for listener in self._listeners:
            listener(recorded, origin)
        return recorded


class Receipt(SubmitReceipt):
    """Shows as its acknowledgement where a cell displays it."""

    def __repr__(self) -> str:
        return self.acknowledgement()


def receipt(number: int, answer: Any, source: Literal["call", "server", "none"]) -> Receipt:
    data = json_bytes(answer)
    complete = len(data) <= SEND_LIMIT
    text = data[: _PREVIEW * 4].decode("utf-8", "ignore")
    preview = text[:_PREVIEW] + ("…" if len(text) > _PREVIEW or len(data) > len(text.encode()) else "")
    return Receipt(
        number=number,
        shape=describe_answer(answer),
        json_bytes=len(data),
        schema_source=source,
        preview=preview,
        answer=answer if complete else None,
        complete=complete,
    )


def describe_answer(answer: Any) -> str:
    """An answer in a few words: "224 records", "an object with 3 keys", "a number"."""
    if isinstance(answer, dict):
        return f"an object with {_count(len(answer), 'key')}"
    if isinstance(answer, list):
        if answer and all(isinstance(item, dict) for item in answer):
            return _count(len(answer), "record")
        return f"a list of {_count(len(answer), 'item')}"
    if isinstance(answer, str):
        return f"a string of {_count(len(answer), 'character')}"
    return "a boolean" if isinstance(answer, bool) else "a number"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def to_json(value: Any) -> Any:
    """A JSON-compatible copy of `value`; DataFrames become lists of records."""
    try:
        to_dict = attr_or_none(value, "to_dict")
        if callable(to_dict) and attr_or_none(value, "columns") is not None:
            value = to_dict(orient="records")
        tolist = attr_or_none(value, "tolist")
        if callable(tolist) and attr_or_none(value, "dtype") is not None:
            value = tolist()
        return to_jsonable_python(value)
    except Exception as exc:
        raise SubmitError(
            f"The answer is a {type(value).__name__}, which has no JSON form ({exc}). "
            "Submit dicts, lists, strings, numbers, dataclasses, pydantic models or DataFrames."
        ) from None


def validate(answer: Any, schema: Mapping[str, Any]) -> None:
    jsonschema = load_jsonschema()  # on first use: it slows kernel start

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SubmitError(f"The schema itself is invalid: {exc.message}") from None
    errors = sorted(validator_cls(schema).iter_errors(answer), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"- at {e.json_path}: {shorten(e.message, 300)}" for e in errors[:10]]
        more = f"\n- … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise SubmitError("The answer does not match the schema:\n" + "\n".join(lines) + more)
