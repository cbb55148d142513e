"""The input schemas the tools advertise: pydantic's, without what a model pays for and does not use.

Every model call of every client re-sends the tool list. The SDK builds each tool's input schema
with pydantic's default generator, which titles the schema and every property ("Timeout") and
spells an optional argument as `{"anyOf": [{"type": "number"}, {"type": "null"}], "default": null}`.
Here an argument whose default is None is advertised as its plain type: it is optional because it
is not `required`, and leaving it out means None. Only the advertisement changes: calls are still
validated against the SDK's argument model, so an explicit `null` is accepted as before.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver.tools import Tool
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import core_schema


class CompactSchema(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: object) -> bool:
        return False

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        json_schema.pop("title", None)
        return json_schema

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", NoDefault) is not None:
            return super().default_schema(schema)
        inner = schema["schema"]
        return self.generate_inner(inner["schema"] if inner["type"] == "nullable" else inner)


def advertised(tool: Tool) -> Tool:
    """`tool` with the compact input schema of its arguments."""
    parameters: dict[str, Any] = tool.fn_metadata.arg_model.model_json_schema(
        by_alias=True, schema_generator=CompactSchema
    )
    return tool.model_copy(update={"parameters": parameters})
