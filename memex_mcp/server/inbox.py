"""Messages of one kernel socket, each handed to the request it answers.

Several requests can be in flight on one socket at once (an execution on the main shell, a runtime
call on the kernel's side shell), so nobody may read a message and drop it for not being theirs.
A request is announced with `expect` before it is sent; whoever waits for a message reads the
socket for everyone, one reader at a time, and files each message under its parent's msg_id.
Messages nobody expects (replies to requests whose caller went away) are dropped.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from typing import Any

Message = dict[str, Any]


class Inbox:
    def __init__(self, socket: Any, session: Any) -> None:
        self._socket = socket
        self._session = session
        self._boxes: dict[str, deque[Message]] = {}
        self._reading = asyncio.Lock()

    def expect(self, msg_id: str) -> None:
        """Keep the messages answering request `msg_id` from now on, until `forget`."""
        self._boxes.setdefault(msg_id, deque())

    def forget(self, msg_id: str) -> None:
        self._boxes.pop(msg_id, None)

    async def next(self, msg_id: str) -> Message:
        """The next message answering `msg_id` (announced with `expect`), in the order it came."""
        box = self._boxes[msg_id]
        while not box:
            async with self._reading:  # first come, first served: the reader then files the rest
                if box:
                    break
                await self._receive()
        return box.popleft()

    async def _receive(self) -> None:
        """Read one message straight off the socket and file it. jupyter_client's `get_*_msg`
        awaits a poll before each receive and parses every timestamp of every message with
        dateutil, which cost more than the rest of memex's server code per call. The signature is
        checked as jupyter_client does; the header's date is left as it came, since memex never
        reads it."""
        session = self._session
        _, parts = session.feed_identities(await self._socket.recv_multipart())
        if session.auth is not None and not hmac.compare_digest(parts[0], session.sign(parts[1:5])):
            raise RuntimeError("a message from the kernel failed its signature check")
        unpack = session.unpack  # jupyter_client's: it replaces bytes that are not UTF-8
        parent = unpack(parts[2])
        box = self._boxes.get(parent.get("msg_id"))
        if box is None:
            return
        header = unpack(parts[1])
        box.append(
            {
                "header": header,
                "msg_type": header["msg_type"],
                "parent_header": parent,
                "metadata": unpack(parts[3]),
                "content": unpack(parts[4]),
            }
        )
