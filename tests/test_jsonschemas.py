"""jsonschema without the optional IRI grammar that makes its import take seconds."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib.util, sys
from memex_mcp.jsonschemas import jsonschema
schema = {"type": "object", "required": ["total"]}
errors = list(jsonschema().Draft202012Validator(schema).iter_errors({}))
print(len(errors), "rfc3987_syntax" in sys.modules)
if importlib.util.find_spec("rfc3987_syntax") is not None:
    import rfc3987_syntax
    print("importable later", rfc3987_syntax.__name__)
"""


def test_jsonschema_validates_without_importing_the_iri_grammar_which_stays_importable() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    lines = out.stdout.splitlines()
    assert lines[0] == "1 False"
    assert lines[1:] in ([], ["importable later rfc3987_syntax"])
