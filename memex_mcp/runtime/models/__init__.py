"""Model providers for sub-agents, behind one narrow interface (`base.Model`).

Specs: `openai:<model>`, `anthropic:<model>`, `sampling` (the MCP client's own model), and
`auto`: `ANTHROPIC_API_KEY` → anthropic (`MEMEX_ANTHROPIC_MODEL`, default DEFAULT_ANTHROPIC);
else `OPENAI_API_KEY` or `OPENAI_BASE_URL` → openai (`MEMEX_OPENAI_MODEL`, default
DEFAULT_OPENAI); else sampling when the client declared it; else a `ModelError` saying how to
configure one. `resolve` fails at once on a spec that cannot work (unknown provider, provider
package not installed, key missing), so `spawn_agent` fails when it is called, not on a later
model call. Provider packages are imported on first use, never at kernel start.

`configured(spec)` is the same choice without asking the MCP client: the server states with it,
at start, which model sub-agents will use.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

from memex_mcp.runtime.models.base import Message, Model, ModelError, Reply, Request

__all__ = [
    "NO_MODEL",
    "Message",
    "Model",
    "ModelError",
    "Reply",
    "Request",
    "configured",
    "provider_model",
    "resolve",
    "set_default_model",
]

DEFAULT_ANTHROPIC = "claude-sonnet-4-5"
DEFAULT_OPENAI = "gpt-4.1-mini"

#: Why `auto` found no model, ending with what to do now (the server's tool description says it too).
NO_MODEL = (
    "No model is configured for sub-agents, so no sub-agent can start. Do this work yourself in "
    "code with execute_code; or ask the user to configure a provider: start memex-mcp with "
    "--agent-model openai:<model> or anthropic:<model>, or set OPENAI_BASE_URL (an OpenAI-compatible "
    "server) / OPENAI_API_KEY or ANTHROPIC_API_KEY in its environment."
)

_KEYS = {"openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"), "anthropic": ("ANTHROPIC_API_KEY",)}


def set_default_model(model: Model | str | None) -> None:
    """The model agents of this kernel use when `spawn_agent` names none (None: `--agent-model`).
    A spec that cannot work raises `ModelError` here, not in the first agent."""
    from memex_mcp.runtime.runtime import current  # the runtime imports this package

    current().agents.set_default_model(model)


def configured(spec: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The provider spec `spec` stands for in `environ` (default: this process's), without asking
    the MCP client: `auto` → the provider the environment configures, else None (then only
    sampling, if the client offers it, remains). Other specs stand for themselves."""
    env = os.environ if environ is None else environ
    if spec.strip() != "auto":
        return spec.strip()
    if env.get("ANTHROPIC_API_KEY"):
        return "anthropic:" + env.get("MEMEX_ANTHROPIC_MODEL", DEFAULT_ANTHROPIC)
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        return "openai:" + env.get("MEMEX_OPENAI_MODEL", DEFAULT_OPENAI)
    return None


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
        from memex_mcp.runtime.models import relay

        return relay.RelayModel.checked(spec) if relay.relayed() else provider_model(spec)
    raise ModelError(f"Unknown model {spec!r}. Use 'openai:<model>', 'anthropic:<model>', 'sampling' or 'auto'.")


def provider_model(spec: str) -> Model:
    """The provider `spec` names (`openai:<model>` or `anthropic:<model>`), called from this process
    with its own network and keys. Raises `ModelError` saying what to fix."""
    provider, _, name = spec.partition(":")
    if provider not in ("openai", "anthropic") or not name:
        raise ModelError(f"Unknown model {spec!r}. Use 'openai:<model>' or 'anthropic:<model>'.")
    _check_usable(spec, provider)
    if provider == "openai":
        from memex_mcp.runtime.models.openai import OpenAIModel

        return OpenAIModel(name)
    from memex_mcp.runtime.models.anthropic import AnthropicModel

    return AnthropicModel(name)


def _check_usable(spec: str, provider: str) -> None:
    """What the provider's first call would fail on, found now: its package and its key."""
    if importlib.util.find_spec(provider) is None:
        raise ModelError(f"{spec} needs the {provider} package: pip install 'memex-mcp[{provider}]'")
    keys = _KEYS[provider]
    if not any(os.environ.get(key) for key in keys):
        needed = " or ".join(keys)
        raise ModelError(f"{spec} needs {needed} in the server's environment; set it, or use another model.")


def _auto() -> Model:
    spec = configured("auto")
    if spec is None:
        from memex_mcp.runtime.models import relay

        # A confined kernel has no keys in its environment: the server's environment decides.
        spec = relay.configured() if relay.relayed() else None
    if spec is not None:
        return resolve(spec)
    if _sampling_available():
        return _sampling()
    raise ModelError(NO_MODEL)


def _sampling_available() -> bool:
    from memex_mcp.runtime.models.sampling import sampling_available

    return sampling_available()


def _sampling() -> Model:
    from memex_mcp.runtime.models.sampling import SamplingModel

    return SamplingModel()
