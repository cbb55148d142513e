"""Model providers for sub-agents, behind one narrow interface (`base.Model`).

Specs: `openai:<model>`, `anthropic:<model>`, `sampling` (the MCP client's own model), and
`auto`: `ANTHROPIC_API_KEY` → anthropic (`MEMEX_ANTHROPIC_MODEL`, default DEFAULT_ANTHROPIC);
else `OPENAI_API_KEY` or `OPENAI_BASE_URL` → openai (`MEMEX_OPENAI_MODEL`, default
DEFAULT_OPENAI); else sampling when the client declared it; else a `ModelError` saying how to
configure one. Provider packages are imported on first use, never at kernel start.
"""

from __future__ import annotations

import os

from memex_mcp.runtime import config
from memex_mcp.runtime.models.base import Message, Model, ModelError, Reply, Request

__all__ = ["Message", "Model", "ModelError", "Reply", "Request", "default_model", "resolve", "set_default_model"]

DEFAULT_ANTHROPIC = "claude-sonnet-4-5"
DEFAULT_OPENAI = "gpt-4.1-mini"

_default: Model | str | None = None


def set_default_model(model: Model | str | None) -> None:
    """The model agents of this kernel use when `spawn_agent` names none (None: `--agent-model`)."""
    global _default
    if isinstance(model, str):
        resolve(model)  # a bad spec fails here, not in the first agent
    _default = model


def default_model() -> Model:
    return resolve(_default if _default is not None else config.load().agent_model)


def resolve(spec: Model | str) -> Model:
    """The model a spec names. Raises `ModelError` saying what to fix."""
    if not isinstance(spec, str):
        return spec
    spec = spec.strip()
    provider, _, name = spec.partition(":")
    if provider == "auto" and not name:
        return _auto()
    if provider == "sampling" and not name:
        return _sampling()
    if provider in ("openai", "anthropic") and name:
        if provider == "openai":
            from memex_mcp.runtime.models.openai import OpenAIModel

            return OpenAIModel(name)
        from memex_mcp.runtime.models.anthropic import AnthropicModel

        return AnthropicModel(name)
    raise ModelError(
        f"Unknown model {spec!r}. Use 'openai:<model>', 'anthropic:<model>', 'sampling' or 'auto'."
    )


def _auto() -> Model:
    if os.environ.get("ANTHROPIC_API_KEY"):
        return resolve("anthropic:" + os.environ.get("MEMEX_ANTHROPIC_MODEL", DEFAULT_ANTHROPIC))
    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return resolve("openai:" + os.environ.get("MEMEX_OPENAI_MODEL", DEFAULT_OPENAI))
    if _sampling_available():
        return _sampling()
    raise ModelError(
        "No model is configured for sub-agents. Set ANTHROPIC_API_KEY, or OPENAI_API_KEY / "
        "OPENAI_BASE_URL (an OpenAI-compatible server; MEMEX_OPENAI_MODEL names the model) in the "
        "server's environment, or start the server with --agent-model openai:<model> or "
        "anthropic:<model>, or pass model=... to spawn_agent."
    )


def _sampling_available() -> bool:
    from memex_mcp.runtime.models.sampling import sampling_available

    return sampling_available()


def _sampling() -> Model:
    from memex_mcp.runtime.models.sampling import SamplingModel

    return SamplingModel()
