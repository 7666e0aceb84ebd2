"""Chemistry tools: the world's elements, chemical formulas, molar masses and amounts of substance."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Annotated, Literal

from dive.servers.kit import Example, Fact, Items, Meaning, Takes, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    Element,
    ElementTable,
    ScienceState,
    convert,
    fact,
    parse_quantity,
    sig,
)

AVOGADRO = 6.02214076e23


class ElementRecord(BaseModel):
    entity_id: str = Field(description="'element:<Symbol>'")
    number: int = Field(description="Atomic number")
    symbol: str
    name: str
    atomic_mass: float = Field(description="Standard atomic weight, g/mol (u)")
    density_g_cm3: float | None = Field(description="Density in g/cm³, null when not tabulated")
    period: int
    group: int | None = Field(description="IUPAC group 1-18; null for the f-block (La-Yb, Ac-No)")
    block: Literal["s", "p", "d", "f"]


def _record(e: Element) -> dict:
    return {
        "entity_id": f"element:{e.symbol}",
        "number": e.number,
        "symbol": e.symbol,
        "name": e.name,
        "atomic_mass": e.mass,
        "density_g_cm3": e.density,
        "period": e.period,
        "group": e.group,
        "block": e.block,
    }


class Isotope(BaseModel):
    mass_number: int
    abundance_percent: float = Field(description="Natural abundance, percent of atoms")
    isotope_mass: float = Field(description="u")


class ElementInfo(ElementRecord):
    covalent_radius_angstrom: float | None
    crystal_structure: str | None = Field(description="Symmetry of the solid, e.g. 'BCC', when known")
    natural_isotopes: list[Isotope] = Field(description="Stable/primordial isotopes by abundance, most abundant first")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"element": Takes("element", "symbol")},
        facts=(
            Fact("number", "the atomic number of {element}"),
            Fact("symbol", "the chemical symbol of {element}"),
            Fact("name", "the name of {element}"),
            Fact("atomic_mass", "the standard atomic weight of {element}", unit="grams per mole"),
            Fact("density_g_cm3", "the density of {element}", unit="grams per cubic centimetre"),
            Fact("period", "the period of {element} in the periodic table"),
            Fact("group", "the group of {element} in the periodic table"),
            Fact("block", "the periodic-table block of {element}"),
            Fact("covalent_radius_angstrom", "the covalent radius of {element}", unit="ångströms"),
            Fact("crystal_structure", "the crystal structure of solid {element}"),
        ),
        items=(
            Items("natural_isotopes", phrase="the naturally occurring isotopes of {element}", name="mass_number",
                  attributes={"abundance_percent": "natural abundance", "isotope_mass": "isotopic mass"},
                  units={"abundance_percent": "percent", "isotope_mass": "atomic mass units"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"element": "Fe"},
            lambda r, w: (
                r["number"] == 26
                and r["period"] == 4
                and r["group"] == 8
                and r["block"] == "d"
                and r["atomic_mass"] == fact(w, "SELECT mass FROM elements WHERE symbol = 'Fe'")
                and r["natural_isotopes"][0]["mass_number"] == 56
            ),
        ),
        Example(
            {"element": "gold"},
            lambda r: r["symbol"] == "Au" and r["number"] == 79 and abs(r["density_g_cm3"] - 19.3) < 0.1,
        ),
        Example({"element": "92"}, lambda r: r["symbol"] == "U" and r["group"] is None and r["block"] == "f"),
    ],
)
def element_info(
    s: ScienceState,
    element: Annotated[
        str,
        Field(
            description="Symbol ('Fe'), English name ('iron'), atomic number ('26') or 'element:Fe'",
            min_length=1,
            max_length=40,
        ),
    ],
) -> ElementInfo:
    """Look up a chemical element: atomic number, symbol, name, standard atomic mass and density (from the
    world's element table), its period, group and block, covalent radius, crystal structure and
    naturally occurring isotopes with their abundances."""
    e = s.elements.find(element)
    import periodictable

    pt = periodictable.elements[e.number]
    isotopes = sorted(
        (
            Isotope(mass_number=iso.isotope, abundance_percent=float(iso.abundance), isotope_mass=float(iso.mass))
            for iso in pt
            if getattr(iso, "abundance", 0) and iso.abundance > 0
        ),
        key=lambda i: (-i.abundance_percent, i.mass_number),
    )
    crystal = getattr(pt, "crystal_structure", None)
    radius = getattr(pt, "covalent_radius", None)
    return ElementInfo(
        **_record(e),
        covalent_radius_angstrom=float(radius) if radius is not None else None,
        crystal_structure=crystal.get("symmetry") if isinstance(crystal, dict) else None,
        natural_isotopes=isotopes,
    )


class ElementList(BaseModel):
    count: int = Field(description="Elements matching the filters")
    sort_by: str
    elements: list[ElementRecord]


@DOMAIN.tool(
    meaning=Meaning(
        items=(
            Items("elements", total="count", name="symbol", name_type="element", name_by="symbol",
                  attributes={"number": "atomic number", "atomic_mass": "standard atomic weight",
                              "density_g_cm3": "density"},
                  units={"atomic_mass": "grams per mole", "density_g_cm3": "grams per cubic centimetre"}),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"sort_by": "density", "order": "descending", "limit": 3},
            lambda r: r["elements"][0]["symbol"] in ("Os", "Ir") and r["elements"][0]["density_g_cm3"] > 22,
        ),
        Example(
            {"group": 18, "sort_by": "number"},
            lambda r: [e["symbol"] for e in r["elements"]][:6] == ["He", "Ne", "Ar", "Kr", "Xe", "Rn"],
        ),
        Example(
            {"period": 2, "min_mass": 12, "max_mass": 16.5, "sort_by": "mass"},
            lambda r: [e["symbol"] for e in r["elements"]] == ["C", "N", "O"],
        ),
    ],
)
def find_elements(
    s: ScienceState,
    sort_by: Annotated[Literal["number", "mass", "density", "name"], Field(description="Order of the list")] = "number",
    order: Annotated[Literal["ascending", "descending"], Field(description="Sort direction")] = "ascending",
    group: Annotated[int | None, Field(ge=1, le=18, description="Only this IUPAC group")] = None,
    period: Annotated[int | None, Field(ge=1, le=7, description="Only this period (row)")] = None,
    block: Annotated[Literal["s", "p", "d", "f"] | None, Field(description="Only this block")] = None,
    min_mass: Annotated[float | None, Field(ge=0, description="Atomic mass at least (g/mol)")] = None,
    max_mass: Annotated[float | None, Field(ge=0, description="Atomic mass at most (g/mol)")] = None,
    min_density: Annotated[float | None, Field(ge=0, description="Density at least (g/cm³)")] = None,
    max_density: Annotated[float | None, Field(ge=0, description="Density at most (g/cm³)")] = None,
    limit: Annotated[int, Field(ge=1, le=118, description="Most elements to list")] = 20,
) -> ElementList:
    """Filter and rank the chemical elements by group, period, block, atomic mass and density: 'the densest
    element', 'the noble gases', 'period-4 metals lighter than 50 g/mol'. Elements with no tabulated
    density are left out when filtering or sorting by density."""
    picked: list[Element] = []
    for e in s.elements.elements:
        if group is not None and e.group != group:
            continue
        if period is not None and e.period != period:
            continue
        if block is not None and e.block != block:
            continue
        if min_mass is not None and e.mass < min_mass or max_mass is not None and e.mass > max_mass:
            continue
        needs_density = min_density is not None or max_density is not None or sort_by == "density"
        if needs_density and e.density is None:
            continue
        if min_density is not None and e.density < min_density or max_density is not None and e.density > max_density:
            continue
        picked.append(e)
    key = {
        "number": lambda e: e.number,
        "mass": lambda e: e.mass,
        "density": lambda e: e.density,
        "name": lambda e: e.name,
    }[sort_by]
    picked.sort(key=key, reverse=order == "descending")
    return ElementList(
        count=len(picked), sort_by=sort_by, elements=[ElementRecord(**_record(e)) for e in picked[:limit]]
    )


# -- formulas ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"([A-Z][a-z]?)|(\d+)|([(\[{])|([)\]}])|(\s+)")
_HYDRATE_SEPARATORS = ("·", "•", "∙", "*", ".")
_CLOSERS = {"(": ")", "[": "]", "{": "}"}


def parse_formula(formula: str, table: ElementTable) -> Counter:
    """Atom counts of a formula: 'C6H12O6', 'Ca(OH)2', 'K4[Fe(CN)6]', 'CuSO4·5H2O' (hydrates with · . or *)."""
    text = (formula or "").strip()
    if not text:
        raise ToolFailure("formula must not be empty; write one such as 'H2O', 'Ca(OH)2' or 'CuSO4·5H2O'")
    total: Counter = Counter()
    parts = re.split("|".join(re.escape(sep) for sep in _HYDRATE_SEPARATORS), text)
    for part in parts:
        part = part.strip()
        if not part:
            raise ToolFailure(f"formula {formula!r} has an empty part around a hydrate separator")
        m = re.match(r"^(\d+)(?=[A-Z(\[{])", part)
        multiplier = int(m.group(1)) if m else 1
        body = part[m.end() :] if m else part
        for symbol, count in _parse_group(body, formula, table).items():
            total[symbol] += count * multiplier
    return total


def _parse_group(text: str, formula: str, table: ElementTable) -> Counter:
    stack: list[tuple[Counter, str]] = [(Counter(), "")]
    pos = 0
    last: Counter | None = None  # what a following count multiplies: an element's atoms or a closed group
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ToolFailure(
                f"unexpected character {text[pos]!r} in formula {formula!r}; use element symbols, "
                "digits, brackets and a hydrate dot, e.g. 'CuSO4·5H2O'"
            )
        symbol, digits, opener, closer, _ = m.groups()
        pos = m.end()
        if symbol:
            if symbol not in table.by_symbol:
                raise ToolFailure(
                    f"{symbol!r} in formula {formula!r} is not an element symbol (symbols are case-sensitive: "
                    "'Co' is cobalt, 'CO' is carbon + oxygen)"
                )
            last = Counter({symbol: 1})
            stack[-1][0].update(last)
        elif digits:
            if last is None:
                raise ToolFailure(f"a count in formula {formula!r} follows nothing; counts come after a symbol or ')'")
            n = int(digits)
            if n == 0:
                raise ToolFailure(f"formula {formula!r} has a zero count")
            for sym, c in last.items():
                stack[-1][0][sym] += c * (n - 1)
            last = None
        elif opener:
            stack.append((Counter(), opener))
            last = None
        elif closer:
            if len(stack) == 1 or _CLOSERS[stack[-1][1]] != closer:
                raise ToolFailure(f"unbalanced {closer!r} in formula {formula!r}")
            group, _ = stack.pop()
            stack[-1][0].update(group)
            last = group
    if len(stack) != 1:
        raise ToolFailure(f"formula {formula!r} has an unclosed {stack[-1][1]!r}")
    if not stack[0][0]:
        raise ToolFailure(f"formula {formula!r} contains no elements")
    return stack[0][0]


def hill_formula(counts: Counter) -> str:
    """Hill order: C first, then H, then the rest alphabetically (all alphabetical without carbon)."""
    symbols = sorted(counts)
    if "C" in counts:
        symbols = ["C"] + (["H"] if "H" in counts else []) + [x for x in symbols if x not in ("C", "H")]
    return "".join(f"{x}{counts[x] if counts[x] != 1 else ''}" for x in symbols)


class Component(BaseModel):
    symbol: str
    name: str
    count: int = Field(description="Atoms per formula unit")
    mass_contribution: float = Field(description="g/mol contributed by this element")
    mass_percent: float


class MolarMass(BaseModel):
    formula: str
    hill_formula: str
    molar_mass_g_per_mol: float
    atom_count: int = Field(description="Atoms per formula unit")
    composition: list[Component] = Field(description="Per element, in Hill order")


def _molar_mass(counts: Counter, table: ElementTable) -> float:
    return sum(table.by_symbol[x].mass * n for x, n in counts.items())


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("molar_mass_g_per_mol", "the molar mass of {formula}", unit="grams per mole"),
            Fact("atom_count", "the number of atoms in one formula unit of {formula}"),
        ),
        items=(
            Items("composition", phrase="the elements of {formula}", name="symbol", name_type="element",
                  name_by="symbol", attributes={"mass_percent": "share of the mass", "count": "number of atoms"},
                  units={"mass_percent": "percent"}),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"formula": "C6H12O6"},
            lambda r: (
                abs(r["molar_mass_g_per_mol"] - 180.156) < 0.01
                and r["atom_count"] == 24
                and abs(next(c["mass_percent"] for c in r["composition"] if c["symbol"] == "C") - 40.0) < 0.1
            ),
        ),
        Example(
            {"formula": "Ca(OH)2"},
            lambda r: abs(r["molar_mass_g_per_mol"] - 74.09) < 0.01 and r["hill_formula"] == "CaH2O2",
        ),
        Example({"formula": "CuSO4·5H2O"}, lambda r: abs(r["molar_mass_g_per_mol"] - 249.68) < 0.02),
        Example(
            {"formula": "K4[Fe(CN)6]"},
            lambda r: r["hill_formula"] == "C6FeK4N6" and abs(r["molar_mass_g_per_mol"] - 368.35) < 0.02,
        ),
    ],
)
def molar_mass(
    s: ScienceState,
    formula: Annotated[
        str,
        Field(
            description="Chemical formula, case-sensitive: 'C6H12O6', 'Ca(OH)2', 'K4[Fe(CN)6]', "
            "'CuSO4·5H2O' (hydrate dot may be · . or *)",
            min_length=1,
            max_length=200,
        ),
    ],
) -> MolarMass:
    """The molar mass (g/mol) of a chemical formula from the world's standard atomic weights, with the
    Hill formula, the atom count and each element's count, mass contribution and mass percent.
    Handles nested brackets and hydrates."""
    counts = parse_formula(formula, s.elements)
    total = _molar_mass(counts, s.elements)
    hill = hill_formula(counts)
    order = [m.group(1) for m in re.finditer(r"([A-Z][a-z]?)", hill)]
    return MolarMass(
        formula=formula.strip(),
        hill_formula=hill,
        molar_mass_g_per_mol=round(total, 4),
        atom_count=sum(counts.values()),
        composition=[
            Component(
                symbol=x,
                name=s.elements.by_symbol[x].name,
                count=counts[x],
                mass_contribution=round(s.elements.by_symbol[x].mass * counts[x], 4),
                mass_percent=round(100 * s.elements.by_symbol[x].mass * counts[x] / total, 3),
            )
            for x in order
        ],
    )


class AmountOfSubstance(BaseModel):
    formula: str
    molar_mass_g_per_mol: float
    mass_g: float
    moles: float
    particles: float = Field(description="Number of formula units (molecules, atoms or ions)")


@DOMAIN.tool(
    meaning=no_facts("converts an amount the caller supplies; the world fact it rests on is molar_mass's answer"),
    kind="processing",
    examples=[
        Example(
            {"formula": "H2O", "amount": "36.03 g"},
            lambda r: abs(r["moles"] - 2.0) < 0.001 and abs(r["particles"] - 1.2044e24) < 1e21,
        ),
        Example({"formula": "NaCl", "amount": "0.5 mol"}, lambda r: abs(r["mass_g"] - 29.22) < 0.01),
        Example({"formula": "CO2", "amount": "1 kg"}, lambda r: abs(r["moles"] - 22.72) < 0.01),
    ],
)
def mass_moles_particles(
    s: ScienceState,
    formula: Annotated[
        str, Field(description="Chemical formula of the substance, e.g. 'H2O'", min_length=1, max_length=200)
    ],
    amount: Annotated[
        str,
        Field(
            description="How much, with a unit: a mass ('36 g', '1 kg', '5 lb'), an amount "
            "('0.5 mol', '2 mmol') or a count ('6.022e23 particle')",
            min_length=2,
            max_length=60,
        ),
    ],
) -> AmountOfSubstance:
    """Convert between mass, moles and number of particles of a substance, using its molar mass: 'how many
    moles are in 36 g of water', 'what is the mass of 0.5 mol of NaCl'."""
    counts = parse_formula(formula, s.elements)
    mm = _molar_mass(counts, s.elements)
    q = parse_quantity(amount, "amount")
    if q.check("[mass]"):
        grams = convert(q, "g", "amount")
        moles = grams / mm
    elif q.check("[substance]"):
        if "particle" in str(q.units):
            moles = float(q.magnitude) / AVOGADRO
        else:
            moles = convert(q, "mol", "amount")
        grams = moles * mm
    else:
        raise ToolFailure(f"amount {amount!r} is neither a mass (g, kg, lb) nor an amount of substance (mol, particle)")
    return AmountOfSubstance(
        formula=formula.strip(),
        molar_mass_g_per_mol=round(mm, 4),
        mass_g=sig(grams),
        moles=sig(moles),
        particles=sig(moles * AVOGADRO),
    )


class EmpiricalFormula(BaseModel):
    empirical_formula: str = Field(description="Smallest whole-number ratio, Hill order")
    empirical_mass_g_per_mol: float
    mole_ratios: dict[str, float] = Field(description="Moles per 100 g divided by the smallest, before rounding")
    molecular_formula: str | None = Field(description="When a molar mass was given: the empirical formula times n")
    multiplier: int | None


@DOMAIN.tool(
    meaning=no_facts("derives a formula from an elemental analysis the caller supplies"),
    kind="processing",
    examples=[
        Example({"mass_percent": {"C": 40.0, "H": 6.71, "O": 53.29}}, lambda r: r["empirical_formula"] == "CH2O"),
        Example(
            {"mass_percent": {"C": 40.0, "H": 6.71, "O": 53.29}, "molar_mass": 180.16},
            lambda r: r["molecular_formula"] == "C6H12O6" and r["multiplier"] == 6,
        ),
        Example({"mass_percent": {"Fe": 69.94, "O": 30.06}}, lambda r: r["empirical_formula"] == "Fe2O3"),
    ],
)
def empirical_formula(
    s: ScienceState,
    mass_percent: Annotated[
        dict[str, float],
        Field(
            description="Element symbol -> mass percent (or grams in a sample), e.g. {'C': 40.0, 'H': 6.71, 'O': 53.29}"
        ),
    ],
    molar_mass: Annotated[
        float | None, Field(gt=0, description="Measured molar mass (g/mol) to get the molecular formula")
    ] = None,
) -> EmpiricalFormula:
    """The empirical formula (smallest whole-number atom ratio) from an elemental analysis given as mass
    percentages, and the molecular formula when the molar mass is known."""
    if len(mass_percent) < 1:
        raise ToolFailure("give at least one element with its mass percent")
    moles = {}
    for symbol, pct in mass_percent.items():
        element = s.elements.find(symbol)
        if pct <= 0:
            raise ToolFailure(f"mass percent of {symbol} must be positive, got {pct}")
        moles[element.symbol] = pct / element.mass
    smallest = min(moles.values())
    ratios = {x: m / smallest for x, m in moles.items()}
    for factor in range(1, 13):  # the smallest multiplier that makes every ratio (nearly) whole
        if all(abs(r * factor - round(r * factor)) <= 0.1 for r in ratios.values()):
            break
    else:
        raise ToolFailure(
            "the percentages give no whole-number ratio with up to 12 atoms of the rarest element; check them"
        )
    counts = Counter({x: round(r * factor) for x, r in ratios.items()})
    divisor = math.gcd(*counts.values())
    counts = Counter({x: n // divisor for x, n in counts.items()})
    emp_mass = _molar_mass(counts, s.elements)
    molecular = multiplier = None
    if molar_mass is not None:
        exact = molar_mass / emp_mass
        multiplier = max(1, round(exact))
        if abs(exact - multiplier) > 0.1:
            raise ToolFailure(f"molar mass {molar_mass} is not a whole multiple of the empirical mass {emp_mass:.3f}")
        molecular = hill_formula(Counter({x: n * multiplier for x, n in counts.items()}))
    return EmpiricalFormula(
        empirical_formula=hill_formula(counts),
        empirical_mass_g_per_mol=round(emp_mass, 4),
        mole_ratios={x: round(r, 4) for x, r in ratios.items()},
        molecular_formula=molecular,
        multiplier=multiplier,
    )
