"""The generated catalogue (seed-demo --products) keeps each transaction short."""

from __future__ import annotations

from pathlib import Path

from shop.models import Product
from shop.services import demo


def _transactions(monkeypatch, chunk_seconds: float, count: int) -> list[int]:
    sizes: list[int] = []
    real = demo._seed_chunk
    monkeypatch.setattr(demo, "CHUNK_SECONDS", chunk_seconds)
    monkeypatch.setattr(demo, "_seed_chunk", lambda rows: sizes.append(len(rows)) or real(rows))
    assert demo.seed_catalogue(count) == (count, count)
    assert Product.select().where(Product.sku.startswith("GEN-")).count() == count
    return sizes


def test_a_slow_transaction_halves_the_next_down_to_twenty(db: Path, monkeypatch) -> None:
    """Every transaction counted as slow (the WAL checkpointer waits at most a second for
    the writer queue; 500 products took 1-2 s on a loaded machine): each next one is half
    as long, never under 20 products, and every product is made once."""
    assert _transactions(monkeypatch, 0.0, 1100) == [500, 250, 125, 62, 31, 20, 20, 20, 20,
                                                     20, 20, 12]


def test_quick_transactions_stay_at_500_products(db: Path, monkeypatch) -> None:
    assert _transactions(monkeypatch, 3600.0, 1100) == [500, 500, 100]
