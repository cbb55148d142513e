"""What a task-run cost: tokens times a price table, in US dollars.

The package ships `prices.json` (list prices per million tokens of common models); `--prices FILE`
adds to it or overrides it, in the same format: `{"openai:my-model": {"input": 0.5, "output": 1.5}}`.
A model found in neither has no price: its cost is None, reported as unknown, never as 0.
Dated model names find their family: `anthropic:claude-sonnet-4-5-20250929` is priced as
`anthropic:claude-sonnet-4-5`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Dollars per million input (prompt) tokens.
    input: float
    #: Dollars per million output (completion) tokens.
    output: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input + output_tokens * self.output) / 1e6


class PriceError(ValueError):
    pass


def load(extra: Path | None = None) -> dict[str, Price]:
    """The default table, updated by `extra`'s entries. Raises `PriceError` saying what is wrong."""
    table = _parse(resources.files("memex_mcp.eval").joinpath("prices.json").read_text(), "the default table")
    if extra is not None:
        try:
            text = extra.read_text()
        except OSError as exc:
            raise PriceError(f"{extra}: {exc.strerror or exc}") from None
        table.update(_parse(text, str(extra)))
    return table


def _parse(text: str, where: str) -> dict[str, Price]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceError(f"{where} is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise PriceError(f'{where} must be a JSON object: {{"openai:gpt-4.1": {{"input": 2.0, "output": 8.0}}}}')
    table = {}
    for name, entry in raw.items():
        if name.startswith("_"):
            continue
        try:
            table[name] = Price.model_validate(entry)
        except ValidationError:
            raise PriceError(
                f'{where}: {name!r} must be {{"input": <$ per million tokens>, "output": <$ per million tokens>}}'
            ) from None
    return table


def price_of(model: str, table: dict[str, Price]) -> Price | None:
    """The price of `model` (PROVIDER:MODEL): its own entry, else the longest entry its name extends
    by a date or version suffix, else a wildcard entry (`scripted:*`), else None."""
    if model in table:
        return table[model]
    family = [k for k in table if not k.endswith("*") and model.startswith(k + "-")]
    if family:
        return table[max(family, key=len)]
    wild = [k for k in table if k.endswith("*") and model.startswith(k[:-1])]
    return table[max(wild, key=len)] if wild else None
