"""Kernels behind a Jupyter Enterprise Gateway (`--kernel-gateway`): start, state across calls,
interrupts and shutdown through the real gateway.

Enterprise Gateway pins older Jupyter packages than memex uses, so it runs from a virtual
environment of its own, made once under `.tools/enterprise-gateway` (about two minutes on a cold pip
cache). memex's kernelspec is installed into that environment, the only place the gateway looks,
and its local process proxy starts the kernel with this interpreter and memex's runtime.
"""

from __future__ import annotations

import fcntl
import getpass
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from conftest import STATE_DIR, run, settings, text_of
from mcp import Client
from test_gateway import KERNEL_ID, TOKEN_ENV, cell, first_call, free_port, gateway_process

from memex_mcp.server import build_server

VERSION = "3.3.*"
VENV = Path(__file__).resolve().parent.parent / ".tools" / "enterprise-gateway"
#: Written last, so that an install cut short is made again rather than used.
DONE = VENV / "memex-installed"
#: Seconds pip may take: a cold cache downloads about 80 packages (two minutes here).
INSTALL_WITHIN = 900

# The first test waits for the environment to be made, on a cold cache.
pytestmark = [pytest.mark.anyio, pytest.mark.timeout(INSTALL_WITHIN + 120)]
TOKEN = secrets.token_hex(16)


def _made_venv() -> Path:
    """The gateway's virtual environment, made unless an earlier run finished it; a lock keeps two
    test runs from making it at once."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / "enterprise-gateway.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if DONE.exists() and DONE.read_text() == VERSION:
            return VENV
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", f"jupyter-enterprise-gateway=={VERSION}"],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_WITHIN)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{' '.join(step)} did not finish within {INSTALL_WITHIN} s (is PyPI reachable?)")
            if done.returncode != 0:
                # pip's own reason is at the end; its warnings about local indexes come first.
                said = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
                pytest.fail(f"{' '.join(step)} failed (exit {done.returncode}):\n{said}")
        DONE.write_text(VERSION)
    return VENV


class EnterpriseGateway:
    def __init__(self, url: str) -> None:
        self.url = url

    async def kernels(self) -> list[str]:
        """The ids of the kernels the gateway runs."""
        async with httpx2.AsyncClient(headers={"Authorization": f"token {TOKEN}"}) as http:
            response = await http.get(f"{self.url}/api/kernels")
        assert response.status_code == 200, response.text
        return [k["id"] for k in response.json()]


@contextmanager
def running_enterprise_gateway(**env: str) -> Iterator[EnterpriseGateway]:
    """Enterprise Gateway on a free port with memex's kernelspec, `env` added to its environment."""
    venv = _made_venv()
    install = [sys.executable, "-m", "memex_mcp", "kernelspec", "install", "--prefix", str(venv)]
    subprocess.run(install, check=True, capture_output=True, timeout=60)
    port = free_port()
    env = {
        **os.environ,
        # The gateway hands a kernel only the variables named here (and its KERNEL_* ones): this
        # run's code and its guard against real model requests.
        "EG_INHERITED_ENVS": "PYTHONPATH,MEMEX_ALLOW_MODEL_REQUESTS",
        # The gateway refuses kernels for root by default; the tests may run as root.
        "EG_UNAUTHORIZED_USERS": "",
        **env,
    }
    command = [
        str(venv / "bin" / "jupyter-enterprisegateway"),
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port_retries=0",
        f"--EnterpriseGatewayApp.auth_token={TOKEN}",
        "--EnterpriseGatewayApp.list_kernels=True",
    ]
    with gateway_process(command, STATE_DIR, env):
        yield EnterpriseGateway(f"http://127.0.0.1:{port}")


@pytest.fixture(scope="module")
def enterprise_gateway() -> Iterator[EnterpriseGateway]:
    """The module's gateway, its token in the server's environment."""
    with pytest.MonkeyPatch.context() as patch, running_enterprise_gateway() as running:
        patch.setenv(TOKEN_ENV, TOKEN)
        yield running


@pytest.fixture
async def client(anyio_backend: str, enterprise_gateway: EnterpriseGateway) -> AsyncIterator[Client]:
    server = build_server(settings(kernel_gateway=enterprise_gateway.url, timeout=30, interrupt_grace=2))
    async with Client(server, raise_exceptions=True) as c:
        yield c


async def test_the_kernel_starts_on_enterprise_gateway_from_memex_kernelspec_and_keeps_its_variables(
    client: Client, enterprise_gateway: EnterpriseGateway
) -> None:
    # Enterprise Gateway marks the kernels it starts; its local process proxy ran the kernelspec's
    # interpreter, this one.
    assert await cell(client, "import os, sys\nos.environ['EG_IMPERSONATION_ENABLED']") == "'False'"
    assert await cell(client, "sys.executable") == repr(sys.executable)
    await cell(client, "x = 41")
    assert await cell(client, "x + 1") == "42"
    assert await enterprise_gateway.kernels() == [(await cell(client, KERNEL_ID)).strip("'")]


async def test_a_timeout_interrupts_the_kernel_through_enterprise_gateway_and_keeps_its_state(client: Client) -> None:
    await cell(client, "before_sleep = 'kept'")
    with anyio.fail_after(30):
        result = await run(client, "import time\ntime.sleep(60)", timeout=1)
    assert result.is_error
    assert text_of(result) == "TimeoutError: the execution exceeded 1 s and was interrupted. The kernel kept its state."
    assert await cell(client, "before_sleep") == "'kept'"


async def test_the_server_closing_shuts_its_kernel_down_on_enterprise_gateway(
    anyio_backend: str, enterprise_gateway: EnterpriseGateway
) -> None:
    async with Client(build_server(settings(kernel_gateway=enterprise_gateway.url)), raise_exceptions=True) as c:
        kernel_id = (await cell(c, KERNEL_ID)).strip("'")
        assert await enterprise_gateway.kernels() == [kernel_id]
    assert await enterprise_gateway.kernels() == []


async def test_an_unknown_kernel_name_lists_the_kernelspecs_enterprise_gateway_has(
    enterprise_gateway: EnterpriseGateway,
) -> None:
    text = await first_call(kernel_gateway=enterprise_gateway.url, kernel_name="no-such-kernel")
    # Enterprise Gateway answers an unknown name with a bare 500; the kernelspecs are those of its environment.
    assert f"the kernel gateway at {enterprise_gateway.url} has no kernelspec named 'no-such-kernel'; it has: " in text
    assert "memex" in text.split("it has: ")[1].split(".")[0].split(", ")


async def test_a_user_enterprise_gateway_does_not_authorize_is_named_with_what_to_do(
    enterprise_gateway: EnterpriseGateway,
) -> None:
    user = getpass.getuser()
    with running_enterprise_gateway(EG_UNAUTHORIZED_USERS=user) as refusing:
        text = await first_call(kernel_gateway=refusing.url)
    assert (
        f"the kernel gateway at {refusing.url} does not authorize the user it starts kernels as (HTTP 403: User "
        f"'{user}' is not authorized to start kernel 'memex'); have its administrator allow that user "
        "(Enterprise Gateway's unauthorized_users, root by default, and authorized_users)" in text
    )
