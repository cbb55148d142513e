"""Messages of one kernel channel, each handed to the request it answers.

Several requests can be in flight on one channel at once (an execution on the main shell, a runtime
call on the kernel's side shell), so nobody may read a message and drop it for not being theirs.
A request is announced with `expect` before it is sent; whoever waits for a message reads the
channel for everyone, one reader at a time, and files each message under its parent's msg_id.
Messages nobody expects (replies to requests whose caller went away) are dropped.

Two sources: a ZeroMQ socket of a local kernel (`SocketInbox`), and a queue that a gateway's
WebSocket reader fills for one channel (`QueueInbox`).
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque
from typing import Any

Message = dict[str, Any]


class Inbox:
    def __init__(self) -> None:
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
        """Read one message and file it (in the box of its parent, if anyone expects it)."""
        raise NotImplementedError


class SocketInbox(Inbox):
    """A local kernel's ZeroMQ socket, read straight off the socket."""

    def __init__(self, socket: Any, session: Any) -> None:
        super().__init__()
        self._socket = socket
        self._session = session

    async def _receive(self) -> None:
        """jupyter_client's `get_*_msg` awaits a poll before each receive and parses every
        timestamp of every message with dateutil, which cost more than the rest of memex's server
        code per call. The signature is checked as jupyter_client does; the header's date is left
        as it came, since memex never reads it."""
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


class QueueInbox(Inbox):
    """One channel of a kernel whose messages all arrive on one connection: its reader `put`s each
    message of this channel here, already parsed, and it is filed at once (or dropped)."""

    def __init__(self) -> None:
        super().__init__()
        self._arrived = asyncio.Event()

    def put(self, msg: Message) -> None:
        box = self._boxes.get(msg["parent_header"].get("msg_id"))
        if box is not None:
            box.append(msg)
            self._arrived.set()

    async def _receive(self) -> None:
        await self._arrived.wait()
        self._arrived.clear()
