"""What the model reads back from list_scope and submit: the runtime's reply models as text and JSON."""

from __future__ import annotations

from typing import Any

from memex_mcp.protocol import SEND_LIMIT, ScopeListing, SubmitReceipt, human_size


def scope_text(listing: ScopeListing, limit: int, pattern: str | None = None) -> str:
    """The listing as text for the model: one line per entry, within `limit` characters. Agents come
    first: they are few, and a long scope must not push a running one out of sight."""
    rows = listing.agents + listing.variables
    if not rows:
        if pattern and listing.in_scope:
            return (
                f"No variable matches {pattern!r}; the scope has {listing.in_scope:,} "
                f"variable{'s' if listing.in_scope != 1 else ''}: list_scope() without a pattern lists them."
            )
        return f"Nothing matches {pattern!r}; the scope is empty." if pattern else "The scope is empty."
    width = min(max(len(e.name) for e in rows), 24)
    lines = []
    used = 0
    for shown, e in enumerate(rows):
        size = f" ({human_size(e.size_bytes)})" if e.size_bytes is not None else ""
        line = f"{e.name:<{width}}  {e.type}{size}  {e.summary}"
        if used + len(line) + 1 > limit - 120:  # room for the line that says what was left out
            lines.append(
                f"[… {len(rows) - shown:,} more of {len(rows):,} not shown; narrow the listing with "
                "a pattern, e.g. list_scope(pattern='df_*')]"
            )
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def submitted(receipt: SubmitReceipt) -> dict[str, Any]:
    """The answer as one JSON object, for programs: a dict as it is, anything else as `{"result": …}`;
    an answer over `SEND_LIMIT` as `{"truncated": true, …}` with its preview and where the whole is."""
    if receipt.complete:
        return receipt.answer if isinstance(receipt.answer, dict) else {"result": receipt.answer}
    where = f"submissions[{receipt.number - 1}]"
    return {
        "truncated": True,
        "submission": receipt.number,
        "json_bytes": receipt.json_bytes,
        "preview": receipt.preview,
        "where": where,
        "message": f"The answer is over {human_size(SEND_LIMIT)} of JSON; the whole answer is {where} "
        "in the kernel (execute_code can write it to a file).",
    }
