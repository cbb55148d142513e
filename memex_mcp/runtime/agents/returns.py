"""What an agent must submit: `returns=` as a Python type, pydantic model, dataclass or JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from memex_mcp.runtime.submit import SubmitError, to_json, validate


class Contract:
    def __init__(self, returns: Any) -> None:
        self.returns = returns
        self._adapter: Any = None
        if returns is None or isinstance(returns, Mapping):
            return
        from pydantic import ConfigDict, PydanticUserError, TypeAdapter

        try:
            try:
                self._adapter = TypeAdapter(returns, config=ConfigDict(arbitrary_types_allowed=True))
            except PydanticUserError:  # models and dataclasses bring their own config
                self._adapter = TypeAdapter(returns)
        except Exception as exc:
            raise TypeError(
                f"returns={returns!r} is not a type pydantic can validate ({exc}). Pass a Python type "
                "(int, list[str], …), a pydantic model, a dataclass or a JSON Schema dict."
            ) from None

    def validate(self, value: Any) -> Any:
        """The value the caller gets: the same object where it already fits. Raises SubmitError."""
        if self.returns is None:
            return value
        if isinstance(self.returns, Mapping):
            validate(to_json(value), self.returns)
            return value
        from pydantic import ValidationError

        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            raise SubmitError(
                f"The value does not match returns={self.type_name()}:\n{exc}\nFix it and submit again."
            ) from None

    def type_name(self) -> str:
        returns = self.returns
        if isinstance(returns, type) and not getattr(returns, "__args__", None):
            return returns.__qualname__
        return repr(returns).replace("typing.", "")

    def describe(self) -> str:
        """The submit contract, as the agent's prompt states it."""
        if self.returns is None:
            return "Call submit(value) with the answer: any Python value; your caller receives that object."
        if isinstance(self.returns, Mapping):
            schema = json.dumps(self.returns, ensure_ascii=False)
            return f"Call submit(value) with a value whose JSON form matches this JSON Schema:\n{schema}"
        text = f"Call submit(value) with a value of type {self.type_name()}"
        try:
            schema = json.dumps(self._adapter.json_schema(), ensure_ascii=False)
        except Exception:  # arbitrary classes have no JSON Schema; the type name must do
            return text + "."
        return f"{text}, i.e. matching this JSON Schema (dicts are converted):\n{schema}"
