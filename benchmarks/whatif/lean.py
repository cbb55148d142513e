"""A lean Jupyter message reader: one recv per message and a plain JSON parse.

jupyter_client's `get_*_msg` awaits a `poll()` before each `recv` (a second future and loop turn
per message), and its `deserialize` turns every timestamp in the header, parent header and
metadata into a datetime through dateutil. This reader keeps the HMAC check and the message
shape memex reads (its own `date` parsed with the standard library).
"""

from __future__ import annotations

import datetime
import hmac
import json
from typing import Any


async def receive(session: Any, socket: Any) -> dict[str, Any]:
    _, parts = session.feed_identities(await socket.recv_multipart())
    if session.auth is not None and not hmac.compare_digest(parts[0], session.sign(parts[1:5])):
        raise ValueError("invalid message signature")
    header = json.loads(parts[1])
    header["date"] = datetime.datetime.fromisoformat(header["date"])
    return {
        "header": header,
        "msg_id": header["msg_id"],
        "msg_type": header["msg_type"],
        "parent_header": json.loads(parts[2]),
        "metadata": json.loads(parts[3]),
        "content": json.loads(parts[4]),
        "buffers": parts[5:],
    }


def install() -> None:
    """Make every AsyncKernelClient of this process read this way when it waits without a timeout."""
    from jupyter_client.asynchronous.client import AsyncKernelClient

    iopub, shell = AsyncKernelClient.get_iopub_msg, AsyncKernelClient.get_shell_msg

    async def get_iopub_msg(self: Any, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            return await iopub(self, timeout)
        return await receive(self.session, self.iopub_channel.socket)

    async def get_shell_msg(self: Any, timeout: float | None = None) -> dict[str, Any]:
        if timeout is not None:
            return await shell(self, timeout)
        return await receive(self.session, self.shell_channel.socket)

    AsyncKernelClient.get_iopub_msg = get_iopub_msg
    AsyncKernelClient.get_shell_msg = get_shell_msg
