"""The science domain, its per-session state, the world's element table, and one shared pint registry."""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pint
from dive.servers.kit import Domain, SessionContext, ToolFailure, world_value

_PINT_LOCK = threading.Lock()
_TEMPERATURE_SHORTHAND = {"C": "degC", "F": "degF", "°C": "degC", "°F": "degF", "ºC": "degC", "ºF": "degF"}


@lru_cache(maxsize=1)
def units() -> pint.UnitRegistry:
    """The process-wide unit registry (building one takes most of a second)."""
    registry = pint.UnitRegistry()
    registry.formatter.default_format = "~P"
    return registry


def make_quantity(value: float, unit: str, *, temperature: bool = False) -> pint.Quantity:
    """`value` in `unit`, or a ToolFailure naming the unknown unit. `temperature` reads 'C'/'F' as degrees."""
    text = unit.strip()
    if temperature and text in _TEMPERATURE_SHORTHAND:
        text = _TEMPERATURE_SHORTHAND[text]
    if not text:
        raise ToolFailure("unit must not be empty; give one such as 'km', 'degC', 'kWh' or 'mol/L'")
    with _PINT_LOCK:
        try:
            return units().Quantity(value, text)
        except (pint.UndefinedUnitError, AttributeError):
            raise ToolFailure(
                f"unknown unit {unit!r}; write units like 'm', 'km/h', 'degC', 'kWh', 'psi', 'GiB', 'mol'"
            ) from None
        except (pint.PintError, ValueError, TypeError, SyntaxError, AssertionError) as exc:
            raise ToolFailure(f"cannot read the unit {unit!r}: {exc}") from None


def parse_quantity(text: str, what: str) -> pint.Quantity:
    """A quantity written with its unit ('1 atm', '22.4 L', '300 K', '25 degC', '5730 year')."""
    raw = (text or "").strip()
    if not raw:
        raise ToolFailure(f"{what} must not be empty; write a number with a unit such as '1 atm'")
    number, _, unit = raw.partition(" ")
    try:
        value = float(number)
    except ValueError:
        raise ToolFailure(
            f"{what} {text!r} must start with a number followed by a space and a unit, e.g. '1.5 atm'"
        ) from None
    if not math.isfinite(value):
        raise ToolFailure(f"{what} must be a finite number, got {text!r}")
    if not unit.strip():
        raise ToolFailure(f"{what} {text!r} has no unit; write it like '{number} atm'")
    return make_quantity(value, unit, temperature=True)


def convert(q: pint.Quantity, unit: str, what: str) -> float:
    """The magnitude of `q` in `unit`, or a ToolFailure saying which dimensions clash."""
    with _PINT_LOCK:
        try:
            return float(q.to(_TEMPERATURE_SHORTHAND.get(unit.strip(), unit.strip())).magnitude)
        except pint.DimensionalityError:
            target = units().Quantity(1, _TEMPERATURE_SHORTHAND.get(unit.strip(), unit.strip()))
            raise ToolFailure(
                f"{what} is in {q.units:~P} ({q.dimensionality}), which cannot be expressed in "
                f"{unit} ({target.dimensionality})"
            ) from None
        except (pint.UndefinedUnitError, AttributeError):
            raise ToolFailure(f"unknown unit {unit!r}") from None
        except (pint.PintError, ValueError, TypeError, SyntaxError, AssertionError):  # pint's parser on junk
            raise ToolFailure(f"cannot read the unit {unit!r}; write units like 'kPa', 'L', 'K' or 'mol'") from None


def sig(value: float, digits: int = 12) -> float:
    """`value` rounded to `digits` significant figures (drops binary noise such as 211.99999999999991)."""
    if value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{digits}g}")


# -- the world's elements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    number: int
    symbol: str
    name: str
    mass: float
    density: float | None
    """g/cm³ (periodictable's convention; gases at their liquid/solid density or as tabulated)."""

    @property
    def period(self) -> int:
        for period, last in enumerate((2, 10, 18, 36, 54, 86, 118), start=1):
            if self.number <= last:
                return period
        return 7

    @property
    def group(self) -> int | None:
        """IUPAC group 1-18; None for La-Yb and Ac-No (the f-block; Lu and Lr sit in group 3)."""
        z = self.number
        if z == 1:
            return 1
        if z == 2:
            return 18
        if z <= 18:
            start = 3 if z <= 10 else 11
            pos = z - start
            return pos + 1 if pos < 2 else pos + 11
        if z <= 54:
            return (z - 18) if z <= 36 else (z - 36)
        start = 55 if z <= 86 else 87
        pos = z - start
        if pos < 2:
            return pos + 1
        if pos < 16:
            return None
        return pos - 13

    @property
    def block(self) -> str:
        group = self.group
        if group is None:
            return "f"
        if self.number == 2 or group <= 2:
            return "s"
        if group <= 12:
            return "d"
        return "p"


class ElementTable:
    def __init__(self, db_path: Path) -> None:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = con.execute("SELECT number, symbol, name, mass, density FROM elements ORDER BY number").fetchall()
        finally:
            con.close()
        self.elements = [
            Element(int(r[0]), r[1], r[2], float(r[3]), float(r[4]) if r[4] is not None else None) for r in rows
        ]
        self.by_symbol = {e.symbol: e for e in self.elements}
        self.by_lower = {e.symbol.lower(): e for e in self.elements} | {e.name.lower(): e for e in self.elements}
        self.by_number = {e.number: e for e in self.elements}
        # Common alternative spellings.
        for alias, symbol in (("aluminum", "Al"), ("cesium", "Cs"), ("sulphur", "S")):
            if symbol in self.by_symbol:
                self.by_lower[alias] = self.by_symbol[symbol]

    def find(self, text: str) -> Element:
        """An element by symbol ('Fe'), name ('iron'), atomic number ('26') or entity id ('element:Fe')."""
        raw = (text or "").strip()
        if raw.lower().startswith("element:"):
            raw = raw.split(":", 1)[1].strip()
        if raw.isdigit():
            found = self.by_number.get(int(raw))
            if found is None:
                raise ToolFailure(f"no element has atomic number {raw}; numbers run from 1 to {len(self.elements)}")
            return found
        found = self.by_symbol.get(raw) or self.by_lower.get(raw.lower())
        if found is None:
            raise ToolFailure(
                f"unknown element {text!r}; give a symbol ('Fe'), a name ('iron') or an atomic number ('26')"
            )
        return found


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> ElementTable:
    return ElementTable(Path(path))


class ScienceState:
    """A session's view of the world's element table (shared, read-only)."""

    def __init__(self, ctx: SessionContext) -> None:
        stat = Path(ctx.world.db_path).stat()
        self.elements = _load(str(ctx.world.db_path), stat.st_mtime_ns, stat.st_size)

    def close(self) -> None:
        """Nothing to release: the element table is shared and read-only."""


DOMAIN = Domain(
    "science",
    "Science calculators and look-ups: unit conversion (pint), chemical elements from the world's table, "
    "molar masses of formulas, CODATA physical constants, the ideal gas law, photon energy, radioactive "
    "decay, density, significant figures and scientific notation.",
    ScienceState,
    held_out=True,
)


fact = world_value  # one value from the world database (read-only), for self-test checks
