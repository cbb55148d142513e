"""The record of a task-run lives in `memex_mcp.records`, which the kernel loads too."""

from memex_mcp.records import Harness, RunKind, Stop, TaskRun, ToolCallRecord, ToolResultRecord, Turn, key

__all__ = ["Harness", "RunKind", "Stop", "TaskRun", "ToolCallRecord", "ToolResultRecord", "Turn", "key"]
