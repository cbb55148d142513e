"""Writes the example retail warehouse in examples/data/ (generated here, so MIT like the project).

    python examples/make_tables.py

Deterministic (a seeded generator): the same tables every run. Five tables, one of each format
memex-mcp loads:

    customers.csv          5,000   customer_id, name, email, country, city, segment, signup_date
    products.jsonl           400   sku, name, category, brand, unit_price, unit_cost
    stores.xlsx               40   store_id, name, city, country, opened, floor_m2
    orders.parquet       250,000   order_id, customer_id, store_id (NULL: web), channel, order_date, status
    order_lines.parquet ~1,000,000 order_id, line_no, sku, quantity, unit_price, discount
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook

OUT = Path(__file__).parent / "data"
SEED = 20240601

_FIRST = """
Anna Ben Carla David Elena Felix Greta Hugo Ines Jonas Klara Luca Maja Noah Olga Paul Rosa Sven Tara
Umar Vera Yusuf Zoe Amir Bianca Chen Dana Emil Farah Goran Hana Ivan Jana Karim Lena Mateo
"""
FIRST = _FIRST.split()
_LAST = """
Müller Schmidt Rossi Garcia Dubois Novak Kowalski Jensen Silva Bauer Moreau Costa Nagy Horvat Berg
Fischer Romano Lopez Martin Weber Larsen Smith Brown Wilson Taylor Keller Popescu Ivanova
"""
LAST = _LAST.split()
PLACES = {
    "Germany": ["Berlin", "Hamburg", "Munich", "Cologne", "Leipzig"],
    "France": ["Paris", "Lyon", "Marseille", "Toulouse"],
    "Italy": ["Milan", "Rome", "Turin", "Naples"],
    "Spain": ["Madrid", "Barcelona", "Valencia", "Seville"],
    "Netherlands": ["Amsterdam", "Rotterdam", "Utrecht"],
    "Poland": ["Warsaw", "Kraków", "Gdańsk"],
    "Sweden": ["Stockholm", "Gothenburg", "Malmö"],
    "United Kingdom": ["London", "Manchester", "Leeds", "Bristol"],
}
CATEGORIES = {
    "Electronics": (["Headphones", "Charger", "Speaker", "Keyboard", "Webcam", "Monitor"], 15, 400),
    "Home & Kitchen": (["Kettle", "Pan", "Knife Set", "Toaster", "Lamp", "Blender"], 8, 180),
    "Outdoor": (["Tent", "Backpack", "Sleeping Bag", "Headlamp", "Water Bottle"], 10, 350),
    "Sports": (["Yoga Mat", "Dumbbells", "Running Shoes", "Jersey", "Racket"], 12, 220),
    "Toys": (["Puzzle", "Building Set", "Plush Bear", "Board Game", "Kite"], 6, 90),
    "Beauty": (["Shampoo", "Face Cream", "Perfume", "Lip Balm", "Hair Dryer"], 4, 120),
    "Books": (["Cookbook", "Novel", "Atlas", "Travel Guide", "Biography"], 7, 45),
    "Grocery": (["Coffee Beans", "Olive Oil", "Green Tea", "Dark Chocolate", "Pasta"], 2, 30),
}
_BRANDS = """
Nordkap Alpina Verdi Lumo Kestrel Oakline Brava Solace Tundra Meridian Fjell Corvo
"""
BRANDS = _BRANDS.split()
_ADJECTIVES = """
Classic Pro Lite Max Eco Compact Deluxe Smart Urban Trail
"""
ADJECTIVES = _ADJECTIVES.split()


def customers(rng: np.random.Generator, n: int = 5_000) -> pd.DataFrame:
    countries = list(PLACES)
    country = rng.choice(countries, n, p=[0.24, 0.16, 0.12, 0.12, 0.08, 0.1, 0.06, 0.12])
    first, last = rng.choice(FIRST, n), rng.choice(LAST, n)
    start = np.datetime64("2019-01-01")
    return pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "name": [f"{f} {s}" for f, s in zip(first, last, strict=True)],
            "email": [
                f"{f.lower()}.{s.lower()}{i}@example.com" for i, (f, s) in enumerate(zip(first, last, strict=True))
            ],
            "country": country,
            "city": [rng.choice(PLACES[c]) for c in country],
            "segment": rng.choice(["consumer", "small business", "corporate"], n, p=[0.7, 0.2, 0.1]),
            "signup_date": start + rng.integers(0, 5 * 365, n).astype("timedelta64[D]"),
        }
    )


def products(rng: np.random.Generator, n: int = 400) -> list[dict[str, object]]:
    rows = []
    for i in range(n):
        category = list(CATEGORIES)[i % len(CATEGORIES)]
        nouns, low, high = CATEGORIES[category]
        price = round(float(rng.uniform(low, high)), 2) - 0.01 if high > 20 else round(float(rng.uniform(low, high)), 2)
        brand = str(rng.choice(BRANDS))
        rows.append(
            {
                "sku": f"SKU-{10001 + i}",
                "name": f"{brand} {rng.choice(ADJECTIVES)} {rng.choice(nouns)}",
                "category": category,
                "brand": brand,
                "unit_price": round(max(price, 0.99), 2),
                "unit_cost": round(max(price, 0.99) * float(rng.uniform(0.45, 0.75)), 2),
            }
        )
    return rows


def stores(rng: np.random.Generator, n: int = 40) -> list[tuple[object, ...]]:
    rows = []
    places = [(city, country) for country, cities in PLACES.items() for city in cities]
    for i in range(n):
        city, country = places[i % len(places)]
        opened = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 15 * 365)))
        rows.append(
            (
                100 + i,
                f"{city} {['Central', 'Mall', 'Station', 'Harbour'][i // len(places) % 4]}",
                city,
                country,
                opened,
                int(rng.integers(8, 60)) * 25,
            )
        )
    return rows


def orders(rng: np.random.Generator, n_customers: int, n_stores: int, n: int = 250_000) -> pd.DataFrame:
    channel = rng.choice(["web", "store", "marketplace"], n, p=[0.55, 0.35, 0.10])
    store = np.where(channel == "store", rng.integers(100, 100 + n_stores, n), -1)
    days = np.sort(rng.integers(0, 3 * 365 + 1, n))  # 2022-01-01 … 2024-12-31, in order-id order
    return pd.DataFrame(
        {
            "order_id": np.arange(1_000_001, 1_000_001 + n),
            "customer_id": rng.integers(1, n_customers + 1, n),
            "store_id": pd.array(np.where(store < 0, None, store).tolist(), dtype="Int32"),
            "channel": channel,
            "order_date": np.datetime64("2022-01-01") + days.astype("timedelta64[D]"),
            "status": rng.choice(["delivered", "shipped", "returned", "cancelled"], n, p=[0.86, 0.06, 0.05, 0.03]),
        }
    )


def order_lines(rng: np.random.Generator, order_ids: np.ndarray, prices: np.ndarray) -> pa.Table:
    counts = 1 + rng.poisson(3.0, len(order_ids))
    order = np.repeat(order_ids, counts)
    line_no = np.concatenate([np.arange(1, c + 1) for c in counts]).astype(np.int16)
    product = rng.zipf(1.3, len(order)) % len(prices)  # a few best-sellers, a long tail
    discount = rng.choice([0, 0, 0, 0, 5, 10, 15, 20], len(order))
    return pa.table(
        {
            "order_id": pa.array(order, pa.int64()),
            "line_no": pa.array(line_no),
            "sku": pa.array([f"SKU-{10001 + p}" for p in product]),
            "quantity": pa.array(1 + rng.geometric(0.6, len(order)) - 1, pa.int16()),
            "unit_price": pa.array([round(float(prices[p]), 2) for p in product]).cast(pa.decimal128(10, 2)),
            "discount": pa.array(discount / 100).cast(pa.decimal128(4, 2)),
        }
    )


def main() -> None:
    rng = np.random.default_rng(SEED)
    OUT.mkdir(exist_ok=True)
    people = customers(rng)
    people.to_csv(OUT / "customers.csv", index=False)
    catalog = products(rng)
    with (OUT / "products.jsonl").open("w") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in catalog)
    shops = stores(rng)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "stores"
    sheet.append(["store_id", "name", "city", "country", "opened", "floor_m2"])
    for row in shops:
        sheet.append(list(row))
    book.properties.created = book.properties.modified = dt.datetime(2025, 1, 1)
    book.save(OUT / "stores.xlsx")
    sales = orders(rng, len(people), len(shops))
    # Sorted ids delta-encode to almost nothing; the rest is dictionary-encoded by default.
    ids = {
        "use_dictionary": [
            "customer_id",
            "store_id",
            "channel",
            "order_date",
            "status",
            "line_no",
            "sku",
            "quantity",
            "unit_price",
            "discount",
        ],
        "column_encoding": {"order_id": "DELTA_BINARY_PACKED"},
        "compression": "zstd",
    }
    pq.write_table(pa.Table.from_pandas(sales, preserve_index=False), OUT / "orders.parquet", **ids)
    prices = np.array([p["unit_price"] for p in catalog])
    lines = order_lines(rng, sales["order_id"].to_numpy(), prices)
    pq.write_table(lines, OUT / "order_lines.parquet", compression_level=9, **ids)
    for path in sorted(OUT.glob("*")):
        print(f"{path.name:<22} {path.stat().st_size / 1e6:6.2f} MB")


if __name__ == "__main__":
    main()
