"""The eval's scorer on answers as models and reports write them, its price table and its frontier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memex_mcp.eval.prices import Price, PriceError, load, price_of
from memex_mcp.eval.report import pareto
from memex_mcp.eval.score import numbers, score

RIGHT = [
    ("$1,234.5 million", "1234.5"),
    ("1234.5", "$1,234.5 million"),
    ("$1,234.5 million", "$1.2345 billion"),
    ("12.3%", "0.123"),
    ("0.123", "12.3%"),
    ("12.3 percent", "12.3%"),
    ("(45)", "-45"),
    ("($45.0)", "-45"),
    ("−45", "-45"),
    ("1.2bn", "1,200,000,000"),
    ("$5M", "5000000"),
    ("3 thousand", "3000"),
    ("The total is 127.5", "127.5 million"),
    ("44.6", "$44.6 million"),
    ("101", "100"),  # exactly at the 1 % edge
    ("99", "100"),
    ("0", "0"),
    ("March 31, 2025", "2025-03-31"),
    ("31 Mar 2025", "2025-03-31"),
    ("Germany", "Germany"),
    ("The answer is EMEA.", "EMEA"),
    ("the United Kingdom", "United Kingdom"),
]

WRONG = [
    ("1.2 million", "1.2 billion"),
    ("102", "100"),
    ("98.9", "100"),
    ("45", "-45"),
    ("12.3", "0.123"),
    ("no idea", "44.6"),
    ("2025-03-30", "2025-03-31"),
    ("France", "Germany"),
    ("Germanyish", "Germany"),
    ("", "44.6"),
    (None, "44.6"),
]


@pytest.mark.parametrize(("answer", "expected"), RIGHT)
def test_an_answer_that_states_the_expected_value_is_right(answer: str, expected: str) -> None:
    verdict = score(answer, expected)
    assert verdict.correct, verdict.how


@pytest.mark.parametrize(("answer", "expected"), WRONG)
def test_an_answer_that_misses_the_expected_value_is_wrong(answer: str | None, expected: str) -> None:
    verdict = score(answer, expected)
    assert not verdict.correct, verdict.how


def test_the_tolerance_is_relative_to_the_expected_value() -> None:
    assert score("105", "100", tolerance=0.05).correct
    assert not score("105.1", "100", tolerance=0.05).correct
    assert score("100.0001", "100", tolerance=0).correct is False
    assert score("100", "100", tolerance=0).correct


def test_numbers_are_read_with_their_sign_scale_and_percent() -> None:
    found = numbers("Revenue fell to (1,200.5) million, −3% on 2.5bn")
    assert [(n.value, n.scale, n.percent) for n in found] == [
        (-1200.5, 1e6, False),
        (-3.0, 1.0, True),
        (2.5, 1e9, False),
    ]


def test_the_verdict_says_how_the_answer_was_compared() -> None:
    assert score("44.7", "44.6").how == "number: 44.7 vs 44.6 (relative error 0.00224, tolerance 0.01)"
    assert score("Spain", "Germany").how == "text: 'spain' is not 'germany'"


def test_models_are_priced_by_their_entry_their_family_or_a_wildcard(tmp_path: Path) -> None:
    table = load()
    assert price_of("openai:gpt-4.1-mini", table) == Price(input=0.4, output=1.6)
    assert price_of("anthropic:claude-sonnet-4-5-20250929", table) == table["anthropic:claude-sonnet-4-5"]
    assert price_of("scripted:oracle", table) == Price(input=0.0, output=0.0)
    assert price_of("openai:my-local-llama", table) is None
    extra = tmp_path / "prices.json"
    extra.write_text(
        json.dumps({"openai:my-local-llama": {"input": 0, "output": 0}, "openai:gpt-4.1": {"input": 1, "output": 2}})
    )
    table = load(extra)
    assert price_of("openai:my-local-llama", table) == Price(input=0, output=0)
    assert table["openai:gpt-4.1"].cost(1_000_000, 500_000) == 2.0


def test_a_bad_price_file_says_what_an_entry_looks_like(tmp_path: Path) -> None:
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps({"openai:x": {"input": "cheap"}}))
    with pytest.raises(PriceError, match=r"'openai:x' must be \{\"input\""):
        load(bad)
    with pytest.raises(PriceError, match=r"no-such\.json"):
        load(tmp_path / "no-such.json")


def test_the_pareto_frontier_keeps_the_points_nothing_beats() -> None:
    points = [(0.02, 80.0), (0.01, 60.0), (0.03, 70.0), (0.01, 50.0), (0.05, 90.0)]
    assert pareto(points) == [(0.01, 60.0), (0.02, 80.0), (0.05, 90.0)]
