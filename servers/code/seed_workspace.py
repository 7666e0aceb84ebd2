'''The code workspace every session starts with: small example programs, tests, schemas and data.

The examples are written to be worked on: they have known outputs, one deliberate bug caught by a
unit test (`examples/inventory.py`), one wrong doctest (`count_vowels`), and a file full of lint
(`examples/messy.py`). The world's `files/data` CSVs are copied (not linked) into `data/`, so programs
can read and change them without touching the shared world.
'''

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dive.world import World

README = """\
# Code workspace

Your private folder for running code. Programs run with this folder as their working directory.

- `examples/` small Python programs and modules (`fizzbuzz.py`, `wordfreq.py`, `textkit.py`,
  `inventory.py`, `geometry.py`, `elements_summary.py`, `messy.py`)
- `tests/` tests for the examples (`test_textkit.py` for pytest, `test_inventory.py` for unittest)
- `schemas/` JSON Schemas; `samples/` JSON documents to check against them
- `data/` reference data copied from the world: elements, stock prices, Seattle weather, airports,
  products, companies (CSV)

Some examples contain deliberate mistakes to find and fix.
"""

FIZZBUZZ = '''\
"""Print FizzBuzz from 1 to N (default 15).

Fizz for multiples of 3, Buzz for multiples of 5, FizzBuzz for multiples of both.
"""

import sys


def fizzbuzz(n: int) -> list[str]:
    """The FizzBuzz lines for 1..n."""
    lines = []
    for i in range(1, n + 1):
        if i % 15 == 0:
            lines.append("FizzBuzz")
        elif i % 3 == 0:
            lines.append("Fizz")
        elif i % 5 == 0:
            lines.append("Buzz")
        else:
            lines.append(str(i))
    return lines


if __name__ == "__main__":
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    for line in fizzbuzz(limit):
        print(line)
'''

WORDFREQ = '''\
"""Read text on standard input and print the N most frequent words (default 3) as "word count"."""

import re
import sys
from collections import Counter


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The n most common lower-cased words; ties are broken alphabetically."""
    counts = Counter(re.findall(r"[a-z']+", text.lower()))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for word, count in top_words(sys.stdin.read(), n):
        print(f"{word} {count}")


if __name__ == "__main__":
    main()
'''

TEXTKIT = '''\
"""Small text utilities used by the examples and their tests."""

import re
import unicodedata

VOWELS = frozenset("aeiou")


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by hyphens.

    >>> slugify("Hello, World!")
    'hello-world'
    >>> slugify("  São Paulo  ")
    'sao-paulo'
    """
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", folded.lower())
    return "-".join(words)


def word_count(text: str) -> dict[str, int]:
    """Count words case-insensitively; the result is sorted by word.

    >>> word_count("the cat and the hat")
    {'and': 1, 'cat': 1, 'hat': 1, 'the': 2}
    """
    counts: dict[str, int] = {}
    for word in re.findall(r"[a-z']+", text.lower()):
        counts[word] = counts.get(word, 0) + 1
    return dict(sorted(counts.items()))


def is_palindrome(text: str) -> bool:
    """True when the letters and digits read the same backwards.

    >>> is_palindrome("A man, a plan, a canal: Panama")
    True
    >>> is_palindrome("code")
    False
    """
    letters = [c for c in text.lower() if c.isalnum()]
    return letters == letters[::-1]


def caesar(text: str, shift: int) -> str:
    """Shift letters by `shift` places, keeping case and leaving other characters alone.

    >>> caesar("Hello", 3)
    'Khoor'
    >>> caesar("Khoor", -3)
    'Hello'
    """
    out = []
    for ch in text:
        if ch.isupper():
            out.append(chr((ord(ch) - 65 + shift) % 26 + 65))
        elif ch.islower():
            out.append(chr((ord(ch) - 97 + shift) % 26 + 97))
        else:
            out.append(ch)
    return "".join(out)


def count_vowels(text: str) -> int:
    """Number of vowels (a, e, i, o, u) in `text`.

    >>> count_vowels("Programming")
    4
    """
    return sum(1 for c in text.lower() if c in VOWELS)
'''

INVENTORY = '''\
"""A tiny stock-keeping model: items with a price and a quantity, kept in an inventory."""

from dataclasses import dataclass, field


class OutOfStock(Exception):
    """Raised when removing more units than are in stock."""


@dataclass
class Item:
    sku: str
    name: str
    unit_price: float
    quantity: int = 0

    @property
    def value(self) -> float:
        """Stock value of this item (price times quantity), rounded to cents."""
        return round(self.unit_price * self.quantity, 2)


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        """Add an item, or more units of an item already held."""
        if item.sku in self.items:
            self.items[item.sku].quantity += item.quantity
        else:
            self.items[item.sku] = item

    def remove(self, sku: str, quantity: int) -> None:
        """Take `quantity` units of `sku` out of stock; OutOfStock if there are not enough."""
        item = self.items[sku]
        if quantity > item.quantity + 1:
            raise OutOfStock(sku)
        item.quantity -= quantity

    def total_value(self) -> float:
        """Value of everything in stock."""
        return round(sum(item.value for item in self.items.values()), 2)

    def low_stock(self, threshold: int = 5) -> list[str]:
        """SKUs with fewer than `threshold` units, sorted."""
        return sorted(sku for sku, item in self.items.items() if item.quantity < threshold)
'''

GEOMETRY = '''\
"""Shapes with areas and perimeters, and a triangle classifier."""

import math
from abc import ABC, abstractmethod


class Shape(ABC):
    """A plane figure."""

    @abstractmethod
    def area(self) -> float: ...

    @abstractmethod
    def perimeter(self) -> float: ...

    def describe(self) -> str:
        return f"{type(self).__name__}: area {self.area():.2f}, perimeter {self.perimeter():.2f}"


class Circle(Shape):
    def __init__(self, radius: float) -> None:
        if radius <= 0:
            raise ValueError("radius must be positive")
        self.radius = radius

    def area(self) -> float:
        return math.pi * self.radius**2

    def perimeter(self) -> float:
        return 2 * math.pi * self.radius


class Rectangle(Shape):
    def __init__(self, width: float, height: float) -> None:
        self.width = width
        self.height = height

    def area(self) -> float:
        return self.width * self.height

    def perimeter(self) -> float:
        return 2 * (self.width + self.height)


class Square(Rectangle):
    def __init__(self, side: float) -> None:
        super().__init__(side, side)


def classify_triangle(a: float, b: float, c: float) -> str:
    """'equilateral', 'isosceles', 'scalene', or 'invalid' when the sides cannot form a triangle."""
    sides = sorted((a, b, c))
    if sides[0] <= 0 or sides[0] + sides[1] <= sides[2]:
        return "invalid"
    if a == b == c:
        return "equilateral"
    if a == b or b == c or a == c:
        return "isosceles"
    return "scalene"


def largest(shapes: list[Shape]) -> Shape | None:
    """The shape with the largest area, or None for no shapes."""
    best = None
    for shape in shapes:
        if best is None or shape.area() > best.area():
            best = shape
    return best


if __name__ == "__main__":
    for shape in (Circle(1.0), Rectangle(2.0, 3.5), Square(2.0)):
        print(shape.describe())
    print(classify_triangle(3, 4, 5))
'''

ELEMENTS_SUMMARY = '''\
"""Summarise data/elements.csv: how many elements, the lightest and heaviest, the densest."""

import csv
from pathlib import Path


def load(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main() -> None:
    rows = load(Path("data/elements.csv"))
    by_mass = sorted(rows, key=lambda r: float(r["mass"]))
    with_density = [r for r in rows if r["density"]]
    densest = max(with_density, key=lambda r: float(r["density"]))
    print(f"elements: {len(rows)}")
    print(f"lightest: {by_mass[0]['name']} ({by_mass[0]['mass']})")
    print(f"heaviest: {by_mass[-1]['name']} ({by_mass[-1]['mass']})")
    print(f"densest: {densest['name']} ({densest['density']})")


if __name__ == "__main__":
    main()
'''

MESSY = '''\
import os, sys
import json
def load_config(path):
    f = open(path)
    data=json.load(f)
    if data == None:
        return {}
    return data
def summarise(values):
    unused = len(values)
    total=0
    for v in values :
        total+=v
    return f"total"  , total
'''

TEST_TEXTKIT = '''\
import pytest

from examples.textkit import caesar, is_palindrome, slugify, word_count


def test_slugify_basic():
    assert slugify("Hello, World!") == "hello-world"


def test_slugify_accents():
    assert slugify("Crème Brûlée") == "creme-brulee"


@pytest.mark.parametrize("text", ["racecar", "Never odd or even", "12321"])
def test_palindromes(text):
    assert is_palindrome(text)


def test_not_palindrome():
    assert not is_palindrome("python")


def test_caesar_round_trip():
    assert caesar(caesar("Attack at dawn!", 7), -7) == "Attack at dawn!"


def test_word_count():
    assert word_count("a b a") == {"a": 2, "b": 1}


@pytest.mark.skip(reason="unicode case folding is not supported yet")
def test_word_count_unicode():
    assert word_count("Straße STRASSE") == {"strasse": 2}
'''

TEST_INVENTORY = '''\
import unittest

from examples.inventory import Inventory, Item, OutOfStock


class InventoryTests(unittest.TestCase):
    def setUp(self):
        self.inventory = Inventory()
        self.inventory.add(Item("A1", "Widget", 2.50, 10))
        self.inventory.add(Item("B2", "Gadget", 12.00, 3))

    def test_total_value(self):
        self.assertEqual(self.inventory.total_value(), 61.0)

    def test_add_merges_quantities(self):
        self.inventory.add(Item("A1", "Widget", 2.50, 5))
        self.assertEqual(self.inventory.items["A1"].quantity, 15)

    def test_low_stock(self):
        self.assertEqual(self.inventory.low_stock(), ["B2"])

    def test_remove(self):
        self.inventory.remove("A1", 4)
        self.assertEqual(self.inventory.items["A1"].quantity, 6)

    def test_remove_more_than_in_stock(self):
        with self.assertRaises(OutOfStock):
            self.inventory.remove("B2", 4)


if __name__ == "__main__":
    unittest.main()
'''

ORDER_SCHEMA = """\
{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Order",
  "type": "object",
  "required": ["id", "customer", "items", "currency"],
  "properties": {
    "id": {"type": "integer", "minimum": 1},
    "customer": {
      "type": "object",
      "required": ["name", "email"],
      "properties": {
        "name": {"type": "string", "minLength": 1},
        "email": {"type": "string", "pattern": "^[^@\\\\s]+@[^@\\\\s]+\\\\.[a-z]{2,}$"}
      }
    },
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "unit_price"],
        "properties": {
          "sku": {"type": "string", "pattern": "^[A-Z][0-9]+$"},
          "quantity": {"type": "integer", "minimum": 1},
          "unit_price": {"type": "number", "exclusiveMinimum": 0}
        },
        "additionalProperties": false
      }
    },
    "currency": {"enum": ["EUR", "USD", "GBP"]},
    "note": {"type": "string", "maxLength": 200}
  },
  "additionalProperties": false
}
"""

ORDER_VALID = """\
{
  "id": 1042,
  "customer": {"name": "Ada Lovelace", "email": "ada@example.org"},
  "items": [
    {"sku": "A1", "quantity": 2, "unit_price": 2.5},
    {"sku": "B2", "quantity": 1, "unit_price": 12.0}
  ],
  "currency": "EUR"
}
"""

ORDER_INVALID = """\
{
  "id": 0,
  "customer": {"name": "Grace Hopper", "email": "grace-at-example.org"},
  "items": [
    {"sku": "A1", "quantity": 0, "unit_price": 2.5},
    {"sku": "b7", "quantity": 3, "unit_price": 4.0, "colour": "red"}
  ],
  "currency": "JPY"
}
"""

SEED_FILES: dict[str, str] = {
    "README.md": README,
    "examples/__init__.py": "",
    "examples/fizzbuzz.py": FIZZBUZZ,
    "examples/wordfreq.py": WORDFREQ,
    "examples/textkit.py": TEXTKIT,
    "examples/inventory.py": INVENTORY,
    "examples/geometry.py": GEOMETRY,
    "examples/elements_summary.py": ELEMENTS_SUMMARY,
    "examples/messy.py": MESSY,
    "tests/__init__.py": "",
    "tests/test_textkit.py": TEST_TEXTKIT,
    "tests/test_inventory.py": TEST_INVENTORY,
    "schemas/order.schema.json": ORDER_SCHEMA,
    "samples/order_valid.json": ORDER_VALID,
    "samples/order_invalid.json": ORDER_INVALID,
}


def seed_workspace(workspace: Path, world: World | None) -> None:
    """Fill a fresh workspace with the example files and a private copy of the world's `files/data`."""
    workspace.mkdir(parents=True, exist_ok=True)
    for rel, text in SEED_FILES.items():
        path = workspace / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    data = Path(world.files_root) / "data" if world is not None else None
    if data is not None and data.is_dir():
        # A real copy, never hard links: the sandbox takes ownership of workspace files.
        shutil.copytree(data, workspace / "data", copy_function=shutil.copyfile, dirs_exist_ok=True)
        for dirpath, _dirs, files in os.walk(workspace / "data"):
            os.chmod(dirpath, 0o755)
            for name in files:
                os.chmod(os.path.join(dirpath, name), 0o644)
