"""View names for data files: `sales_2024.csv` → `sales_2024`, `Q3 report-final.csv` → `q3_report_final`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

#: DuckDB's reserved keywords (`duckdb_keywords()` where the category is `reserved`), which a bare
#: name cannot be. Kept here so naming needs no connection; a missing one only costs quoting.
_RESERVED_WORDS = """
all analyse analyze and any array as asc asymmetric both case cast check collate column constraint
create default deferrable desc describe distinct do else end except false fetch for foreign from
group having in initially intersect into lambda lateral leading limit not null offset on only or
order pivot pivot_longer pivot_wider placing primary qualify references returning select show some
summarize symmetric table then to trailing true union unique unpivot using variadic when where
window with
"""
RESERVED = frozenset(_RESERVED_WORDS.split())

_NOT_WORD = re.compile(r"[^0-9a-z]+")


def identifier(stem: str) -> str:
    """A lower-case identifier that needs no quoting in SQL."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()  # Ü → U
    name = _NOT_WORD.sub("_", ascii_stem.lower()).strip("_") or "data"
    if name[0].isdigit():
        name = "t_" + name
    if name in RESERVED:
        name += "_"
    return name


def unique(name: str, taken: Collection[str]) -> str:
    """`name`, or `name_2`, `name_3`, … : the first not in `taken` (compared case-insensitively)."""
    lowered = {t.lower() for t in taken}
    if name not in lowered:
        return name
    n = 2
    while f"{name}_{n}" in lowered:
        n += 1
    return f"{name}_{n}"
