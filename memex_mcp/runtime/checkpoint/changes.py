"""Which variables a cell may have changed, read from its code without running anything.

`mentioned`: every identifier in the code, strings and comments included. `changed`: the names the
code may mutate or rebind. A name is in `changed` when, anywhere in the cell (function bodies and
lambdas included), it
- is assigned, augmented or deleted (`x = …`, `x += …`, `del x`, a `for`/`with`/`:=` target);
- is the base of an assigned, augmented or deleted subscript or attribute, through any chain of
  subscripts, attributes and calls (`df["x"] = 1`, `obj.a.b += 1`, `del d[k]`, `a.ravel()[0] = 5`);
- is the base of a method call's receiver (same chains), unless the method is a known read-only one
  (`head`, `describe`, `sum`, `groupby`, `to_parquet`, `get`, `keys`, …) called without `inplace=True`;
- is passed to a call whose callee is not a known read-only builtin (`len`, `print`, `repr`,
  `isinstance`, `sorted`, `sum`, …): as the argument itself, as the base of an argument's subscript
  or attribute chain (`f(df.values)`), or inside a list, tuple, set or dict display, a starred or
  conditional argument (`pd.concat([a, b])`);
- shares its object with a name that is in `changed` (an alias in the scope).
A cell whose code cannot be parsed, or that reaches the scope dynamically (`exec`, `eval`,
`globals()`, `vars()`, `locals()`, `get_ipython()`, which magics and shell escapes become), has
`changed` = `mentioned`. A missed mutation loses data and an extra save only costs time, so every
doubt counts as a change.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_IDENT = re.compile(r"[^\W\d]\w*")
_DYNAMIC = frozenset({"exec", "eval", "globals", "vars", "locals", "get_ipython", "__import__", "compile"})
_READ_ONLY_CALLS = frozenset(
    {
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "bool",
        "bytes",
        "callable",
        "chr",
        "complex",
        "dict",
        "dir",
        "display",
        "divmod",
        "enumerate",
        "float",
        "format",
        "frozenset",
        "hasattr",
        "hash",
        "hex",
        "id",
        "int",
        "isinstance",
        "issubclass",
        "len",
        "list",
        "max",
        "min",
        "oct",
        "ord",
        "print",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "type",
        "zip",
    }
)
_READ_ONLY_METHODS = frozenset(
    {
        # pandas and numpy: these return new objects or views and leave the receiver as it was
        "agg",
        "aggregate",
        "all",
        "any",
        "argmax",
        "argmin",
        "astype",
        "count",
        "corr",
        "cov",
        "cumsum",
        "describe",
        "diff",
        "drop",
        "drop_duplicates",
        "dropna",
        "duplicated",
        "equals",
        "explode",
        "fillna",
        "filter",
        "groupby",
        "head",
        "hist",
        "idxmax",
        "idxmin",
        "info",
        "isin",
        "isna",
        "isnull",
        "items",
        "iterrows",
        "itertuples",
        "join",
        "max",
        "mean",
        "median",
        "melt",
        "memory_usage",
        "merge",
        "min",
        "nlargest",
        "nsmallest",
        "notna",
        "notnull",
        "nunique",
        "pct_change",
        "pivot",
        "pivot_table",
        "plot",
        "quantile",
        "query",
        "rank",
        "rename",
        "reset_index",
        "resample",
        "rolling",
        "round",
        "sample",
        "select_dtypes",
        "set_index",
        "shift",
        "sort_index",
        "sort_values",
        "std",
        "sum",
        "tail",
        "to_csv",
        "to_dict",
        "to_json",
        "to_list",
        "to_markdown",
        "to_numpy",
        "to_parquet",
        "to_records",
        "to_string",
        "tolist",
        "unique",
        "value_counts",
        "var",
        "reshape",
        "ravel",
        "flatten",
        "dot",
        "nonzero",
        "argsort",
        "tobytes",
        "view",
        "transpose",
        "size",
        "first",
        "last",
        "prod",
        "cumprod",
        "cummax",
        "cummin",
        "sem",
        "skew",
        "kurt",
        "clip",
        "where",
        "mask",
        "replace",
        "assign",
        "reindex",
        "interpolate",
        "ffill",
        "bfill",
        "to_frame",
        "asfreq",
        "truncate",
        # built-in containers
        "copy",
        "get",
        "keys",
        "values",
        "index",
        "union",
        "intersection",
        "difference",
        "issubset",
        "issuperset",
        "isdisjoint",
        "symmetric_difference",
        "startswith",
        "endswith",
        "format",
        "split",
        "strip",
        "lower",
        "upper",
    }
)


@dataclass(frozen=True)
class CellNames:
    mentioned: frozenset[str]
    changed: frozenset[str]


def cell_names(code: str, transform: Callable[[str], str] = lambda c: c) -> CellNames:
    """The names `code` mentions and those it may change (see the module docstring)."""
    mentioned = frozenset(_IDENT.findall(code))
    try:
        # IPython's transforms change only what is not Python (magics, `!`, `?`, prompts, a leading
        # indent), so code that parses is its own transform; the transform costs more than the parse.
        tree = ast.parse(code)
    except SyntaxError:
        try:
            tree = ast.parse(transform(code))
        except Exception:  # not Python (or a transform that failed): every mention may be a change
            return CellNames(mentioned, mentioned)
    except Exception:  # a null byte, a too-deep nesting: every mention may be a change
        return CellNames(mentioned, mentioned)
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            changed.add(node.id)
        elif isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store | ast.Del):
            changed.update(_bases(node))
        elif isinstance(node, ast.AugAssign):
            changed.update(_bases(node.target))
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and node.func.id in _DYNAMIC:
                return CellNames(mentioned, mentioned)
            changed.update(_call_changes(node))
    return CellNames(mentioned, frozenset(changed))


def _call_changes(call: ast.Call) -> Iterator[str]:
    inplace = any(
        k.arg == "inplace" and not (isinstance(k.value, ast.Constant) and not k.value.value) for k in call.keywords
    )
    func = call.func
    if isinstance(func, ast.Attribute) and (inplace or func.attr not in _READ_ONLY_METHODS):
        yield from _bases(func.value)
    if isinstance(func, ast.Name) and func.id in _READ_ONLY_CALLS and not inplace:
        return
    for argument in [*call.args, *(k.value for k in call.keywords)]:
        yield from _passed(argument)


def _passed(node: ast.expr) -> Iterator[str]:
    """Names whose object (or a part of it) `node` may evaluate to."""
    if isinstance(node, ast.Name | ast.Subscript | ast.Attribute):
        yield from _bases(node)
    elif isinstance(node, ast.Starred):
        yield from _passed(node.value)
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for item in node.elts:
            yield from _passed(item)
    elif isinstance(node, ast.Dict):
        for part in [*node.keys, *node.values]:
            if part is not None:  # `**mapping` in a display has no key
                yield from _passed(part)
    elif isinstance(node, ast.IfExp):
        yield from _passed(node.body)
        yield from _passed(node.orelse)
    elif isinstance(node, ast.BoolOp):
        for item in node.values:
            yield from _passed(item)
    elif isinstance(node, ast.NamedExpr):
        yield from _passed(node.value)


def _bases(node: ast.expr) -> Iterator[str]:
    """The name at the root of a chain of subscripts, attributes and calls (`a` in `a.b[0].c()`)."""
    while True:
        if isinstance(node, ast.Name):
            yield node.id
            return
        if isinstance(node, ast.Subscript | ast.Attribute | ast.Starred):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return
