"""The database domain's SQLite file: real tables, seeded tables, and the site's prose under full-text search.

Rows are inserted in a fixed order and the file is VACUUMed at the end, so the same catalog gives the
same bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from .catalog import Catalog
from .model import WorldError
from .site import PageRecord

SCHEMA = """
CREATE TABLE continents (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    population INTEGER
);
CREATE TABLE countries (
    code TEXT PRIMARY KEY,
    iso3 TEXT NOT NULL,
    name TEXT NOT NULL,
    continent TEXT NOT NULL REFERENCES continents(code),
    capital TEXT,
    population INTEGER,
    area_km2 REAL,
    currency_code TEXT,
    currency_name TEXT,
    languages TEXT,
    tld TEXT,
    phone TEXT,
    neighbours TEXT
);
CREATE TABLE cities (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    country_code TEXT NOT NULL REFERENCES countries(code),
    admin1 TEXT,
    population INTEGER,
    latitude REAL,
    longitude REAL,
    timezone TEXT
);
CREATE TABLE airports (
    icao TEXT PRIMARY KEY,
    iata TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    city TEXT,
    region TEXT,
    country_code TEXT NOT NULL REFERENCES countries(code),
    elevation_ft INTEGER,
    latitude REAL,
    longitude REAL,
    timezone TEXT,
    city_id INTEGER REFERENCES cities(id)
);
CREATE TABLE elements (
    number INTEGER PRIMARY KEY,
    symbol TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    mass REAL,
    density REAL
);
CREATE TABLE companies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL,
    hq_city_id INTEGER NOT NULL REFERENCES cities(id),
    founded INTEGER,
    employees INTEGER,
    revenue_musd REAL,
    ticker TEXT UNIQUE
);
CREATE TABLE stock_prices (
    symbol TEXT NOT NULL REFERENCES companies(ticker),
    date TEXT NOT NULL,
    price REAL NOT NULL,
    PRIMARY KEY (symbol, date)
);
CREATE TABLE weather (
    date TEXT PRIMARY KEY,
    precipitation REAL,
    temp_max REAL,
    temp_min REAL,
    wind REAL,
    weather TEXT
);
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    city_id INTEGER NOT NULL REFERENCES cities(id),
    signup_date TEXT NOT NULL
);
CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    category TEXT NOT NULL,
    unit_price REAL NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    product_id TEXT NOT NULL REFERENCES products(id),
    order_date TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    amount REAL NOT NULL
);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY,
    entity_id TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE VIRTUAL TABLE documents_fts USING fts5(title, body, content='documents', content_rowid='id');

CREATE INDEX idx_countries_continent ON countries(continent);
CREATE INDEX idx_cities_country ON cities(country_code);
CREATE INDEX idx_cities_name ON cities(name);
CREATE INDEX idx_cities_population ON cities(population);
CREATE INDEX idx_airports_country ON airports(country_code);
CREATE INDEX idx_airports_city ON airports(city_id);
CREATE INDEX idx_companies_hq ON companies(hq_city_id);
CREATE INDEX idx_companies_sector ON companies(sector);
CREATE INDEX idx_customers_city ON customers(city_id);
CREATE INDEX idx_orders_customer ON orders(customer_id);
CREATE INDEX idx_orders_product ON orders(product_id);
CREATE INDEX idx_orders_date ON orders(order_date);
CREATE INDEX idx_documents_entity ON documents(entity_id);
"""


def _insert(conn: sqlite3.Connection, table: str, rows: Sequence[tuple]) -> None:
    if rows:
        marks = ", ".join("?" * len(rows[0]))
        conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)


def write_database(path: Path, cat: Catalog, documents: Sequence[PageRecord]) -> dict[str, int]:
    """Create the SQLite world database at `path` (which must not exist); return the row count of each table.

    `documents` are the site's entity pages: their text is stored in `documents` and indexed by
    `documents_fts` (an external-content FTS5 table, so the text is stored once).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = OFF")  # built once into a fresh file; nothing to roll back to
        conn.execute("BEGIN")
        for statement in _statements(SCHEMA):
            conn.execute(statement)
        _insert(conn, "continents", [(c.code, c.name, c.population) for c in cat.continents])
        _insert(conn, "countries", [
            (c.code, c.iso3, c.name, c.continent, c.capital, c.population, c.area_km2, c.currency_code,
             c.currency_name, c.languages, c.tld, c.phone, c.neighbours) for c in cat.countries])
        _insert(conn, "cities", [
            (c.id, c.name, c.country_code, c.admin1, c.population, c.latitude, c.longitude, c.timezone)
            for c in cat.cities])
        _insert(conn, "airports", [
            (a.icao, a.iata, a.name, a.city, a.region, a.country_code, a.elevation_ft, a.latitude, a.longitude,
             a.timezone, cat.airport_city.get(a.iata)) for a in cat.airports])
        _insert(conn, "elements", [(e.number, e.symbol, e.name, e.mass, e.density) for e in cat.elements])
        _insert(conn, "companies", [
            (c.id, c.name, c.sector, c.hq_city_id, c.founded, c.employees, c.revenue_musd, c.ticker)
            for c in cat.companies])
        _insert(conn, "stock_prices", [(p.symbol, p.date, p.price) for p in cat.stock_prices])
        _insert(conn, "weather", [
            (w.date, w.precipitation, w.temp_max, w.temp_min, w.wind, w.weather) for w in cat.weather])
        _insert(conn, "customers", [(c.id, c.name, c.email, c.city_id, c.signup_date) for c in cat.customers])
        _insert(conn, "products", [(p.id, p.name, p.category, p.unit_price) for p in cat.products])
        _insert(conn, "orders", [
            (o.id, o.customer_id, o.product_id, o.order_date, o.quantity, o.amount) for o in cat.orders])
        _insert(conn, "documents", [
            (i, d.entity_id, d.path, d.title, d.text) for i, d in enumerate(documents, start=1)])
        conn.execute("INSERT INTO documents_fts(documents_fts) VALUES ('rebuild')")
        conn.execute("INSERT INTO documents_fts(documents_fts) VALUES ('optimize')")
        conn.execute("COMMIT")
        problems = conn.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise WorldError(f"the world database breaks its foreign keys (first: {problems[:5]}); this is a bug in dive.world")
        conn.execute("ANALYZE")
        conn.execute("VACUUM")
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'documents_fts%' ORDER BY name")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
