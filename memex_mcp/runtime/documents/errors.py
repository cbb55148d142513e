"""The errors of `docs` and `read_document`, in a module cheap enough to import at kernel start."""

from __future__ import annotations


class DocumentError(Exception):
    """A document cannot be read or found; the message says which and why, for the model to act on."""


class UnknownDocument(KeyError):
    """`docs[key]` with a key that is no doc id (nor a unique file name)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])
