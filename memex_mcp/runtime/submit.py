"""`submit`: final answers, validated against a JSON Schema, kept in `submissions`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python


class SubmitError(Exception):
    """The answer cannot be accepted; the message says what to fix."""


class Submissions:
    def __init__(self, namespace: dict[str, Any], answer_schema: Mapping[str, Any] | None = None) -> None:
        self._ns = namespace
        self.answer_schema = answer_schema

    @property
    def items(self) -> list[Any]:
        items: list[Any] = self._ns.setdefault("submissions", [])
        return items

    def submit(self, value: Any = None, variable: str | None = None, schema: Mapping[str, Any] | None = None) -> Any:
        """Validate and record an answer; returns its JSON form."""
        if variable is not None:
            if variable not in self._ns:
                raise SubmitError(f"There is no variable {variable!r} in the scope; list_scope shows what exists.")
            value = self._ns[variable]
        answer = to_json(value)
        check = schema if schema is not None else self.answer_schema
        if check is not None:
            validate(answer, check)
        self.items.append(answer)
        return answer


def to_json(value: Any) -> Any:
    """A JSON-compatible copy of `value`; DataFrames become lists of records."""
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and hasattr(value, "columns"):
        value = to_dict(orient="records")
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and hasattr(value, "dtype"):
        value = tolist()
    try:
        return to_jsonable_python(value)
    except Exception as exc:
        raise SubmitError(
            f"The answer is a {type(value).__name__}, which has no JSON form ({exc}). "
            "Submit dicts, lists, strings, numbers, dataclasses, pydantic models or DataFrames."
        ) from None


def validate(answer: Any, schema: Mapping[str, Any]) -> None:
    import jsonschema  # type: ignore[import-untyped]  # imported on first use: it slows kernel start

    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SubmitError(f"The schema itself is invalid: {exc.message}") from None
    errors = sorted(validator_cls(schema).iter_errors(answer), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"- at {e.json_path}: {_clip(e.message)}" for e in errors[:10]]
        more = f"\n- … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise SubmitError("The answer does not match the schema:\n" + "\n".join(lines) + more)


def _clip(text: str, width: int = 300) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
