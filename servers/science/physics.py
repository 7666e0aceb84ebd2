"""Physics tools: unit conversion, physical constants, the ideal gas law, light, decay and density."""

from __future__ import annotations

import math
import re
from typing import Annotated, Literal

import scipy.constants as sc
from dive.servers.kit import Example, Fact, Meaning, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import (
    DOMAIN,
    ScienceState,
    convert,
    fact,
    make_quantity,
    parse_quantity,
    sig,
)

_INFORMATION = re.compile(r"bit|byte|\bB\b|[KMGTPE]i?B\b")


class Conversion(BaseModel):
    value: float = Field(description="The converted value (12 significant figures)")
    from_value: float
    from_unit: str = Field(description="The source unit as understood, e.g. 'km/h'")
    to_unit: str = Field(description="The target unit as understood")
    dimensionality: str = Field(description="What is measured, e.g. '[length] / [time]'")
    text: str = Field(description="'100 km/h = 62.1371192237 mph'")


@DOMAIN.tool(
    meaning=Meaning(facts=(Fact("value", "{value} {from_unit} converted to {to_unit}"),)),
    kind="processing",
    examples=[
        Example({"value": 100, "from_unit": "degC", "to_unit": "degF"}, lambda r: r["value"] == 212),
        Example({"value": 1, "from_unit": "GiB", "to_unit": "MB"}, lambda r: r["value"] == 1073.741824),
        Example({"value": 60, "from_unit": "mph", "to_unit": "km/h"}, lambda r: abs(r["value"] - 96.56064) < 1e-9),
        Example({"value": 1, "from_unit": "atm", "to_unit": "psi"}, lambda r: abs(r["value"] - 14.6959) < 1e-3),
        Example({"value": 1, "from_unit": "kWh", "to_unit": "MJ"}, lambda r: r["value"] == 3.6),
    ],
)
def convert_units(
    s: ScienceState,
    value: Annotated[float, Field(description="The number to convert")],
    from_unit: Annotated[
        str,
        Field(
            description="Unit of the value: 'km', 'mi', 'degC', 'K', 'lb', 'kWh', 'eV', 'psi', "
            "'atm', 'km/h', 'knot', 'GiB', 'L', 'acre'...",
            min_length=1,
            max_length=60,
        ),
    ],
    to_unit: Annotated[
        str, Field(description="Unit to express it in (same kind of quantity)", min_length=1, max_length=60)
    ],
) -> Conversion:
    """Convert a value between units of the same kind: length, mass, time, temperature (offsets handled:
    degC, degF, K), energy, power, pressure, speed, area, volume, data sizes (kB vs KiB) and compound
    units like 'kg/m^3'. Units of different kinds (metres to kilograms) are refused with the
    dimensions of each."""
    if not math.isfinite(value):
        raise ToolFailure("value must be a finite number")
    temperature = any(
        u.strip() in ("C", "F", "°C", "°F", "degC", "degF", "K", "kelvin", "celsius", "fahrenheit")
        for u in (from_unit, to_unit)
    )
    q = make_quantity(value, from_unit, temperature=temperature)
    target = make_quantity(1, to_unit, temperature=temperature)
    if bool(_INFORMATION.search(from_unit)) != bool(_INFORMATION.search(to_unit)):
        raise ToolFailure(f"cannot convert {from_unit!r} to {to_unit!r}: only one of them is a data size (bits/bytes)")
    if q.dimensionality != target.dimensionality:
        raise ToolFailure(
            f"cannot convert {from_unit!r} to {to_unit!r}: {from_unit!r} measures {q.dimensionality} but "
            f"{to_unit!r} measures {target.dimensionality}; pick a target unit of the same kind"
        )
    out = sig(convert(q, str(target.units), "value"))
    return Conversion(
        value=out,
        from_value=value,
        from_unit=str(q.units),
        to_unit=str(target.units),
        dimensionality=str(q.dimensionality),
        text=f"{value:g} {from_unit.strip()} = {out:.12g} {to_unit.strip()}",
    )


# -- constants --------------------------------------------------------------------------------

_CONSTANT_ALIASES = {
    "c": "speed of light in vacuum",
    "speed of light": "speed of light in vacuum",
    "h": "Planck constant",
    "planck": "Planck constant",
    "hbar": "reduced Planck constant",
    "g": "Newtonian constant of gravitation",
    "gravitational constant": "Newtonian constant of gravitation",
    "g0": "standard acceleration of gravity",
    "standard gravity": "standard acceleration of gravity",
    "k": "Boltzmann constant",
    "kb": "Boltzmann constant",
    "boltzmann": "Boltzmann constant",
    "na": "Avogadro constant",
    "avogadro": "Avogadro constant",
    "avogadro's number": "Avogadro constant",
    "r": "molar gas constant",
    "gas constant": "molar gas constant",
    "e": "elementary charge",
    "electron charge": "elementary charge",
    "me": "electron mass",
    "mp": "proton mass",
    "mn": "neutron mass",
    "epsilon0": "vacuum electric permittivity",
    "mu0": "vacuum mag. permeability",
    "sigma": "Stefan-Boltzmann constant",
    "stefan-boltzmann": "Stefan-Boltzmann constant",
    "alpha": "fine-structure constant",
    "rydberg": "Rydberg constant",
    "faraday": "Faraday constant",
    "a0": "Bohr radius",
    "bohr radius": "Bohr radius",
    "u": "atomic mass constant",
}


class Constant(BaseModel):
    name: str = Field(description="CODATA name")
    value: float
    unit: str = Field(description="SI unit ('' for dimensionless)")
    uncertainty: float = Field(description="Standard uncertainty (0 for exact constants)")
    exact: bool


class ConstantSearch(BaseModel):
    query: str
    count: int = Field(description="Constants matching the query")
    best: Constant = Field(description="The exact or closest match")
    matches: list[Constant] = Field(description="Other matches, shortest names first")


def _constant(name: str) -> Constant:
    value, unit, uncertainty = sc.physical_constants[name]
    return Constant(name=name, value=value, unit=unit, uncertainty=uncertainty, exact=uncertainty == 0)


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("best.value", "the CODATA value of {query} in SI units"),
            Fact("best.unit", "the SI unit of {query}"),
            Fact("best.uncertainty", "the standard uncertainty of the CODATA value of {query}"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"query": "c"},
            lambda r: r["best"]["value"] == 299792458 and r["best"]["exact"] and r["best"]["unit"] == "m s^-1",
        ),
        Example(
            {"query": "electron mass"},
            lambda r: abs(r["best"]["value"] - 9.1093837e-31) < 1e-37 and r["best"]["unit"] == "kg",
        ),
        Example({"query": "Boltzmann"}, lambda r: r["best"]["value"] == 1.380649e-23),
    ],
)
def physical_constant(
    s: ScienceState,
    query: Annotated[
        str,
        Field(
            description="A constant's name or symbol: 'speed of light', 'c', 'h', 'electron mass', "
            "'G', 'Avogadro', 'R', 'k'",
            min_length=1,
            max_length=80,
        ),
    ],
    limit: Annotated[int, Field(ge=1, le=50, description="Most further matches to list")] = 5,
) -> ConstantSearch:
    """Look up a physical constant from CODATA (via SciPy): value, SI unit, standard uncertainty and whether
    it is exact. Accepts common symbols (c, h, G, k, NA, R, e, me) and names; lists other constants
    whose names contain all the query words."""
    key = query.strip()
    names = sc.physical_constants
    exact_name = (
        _CONSTANT_ALIASES.get(key.lower())
        or _CONSTANT_ALIASES.get(key)
        or next((n for n in names if n.lower() == key.lower()), None)
    )
    # After an exact hit, list its relatives ('electron mass in u'); otherwise every name holding all the words.
    words = exact_name.lower().split() if exact_name else key.lower().split()
    found = sorted(
        (n for n in names if all(w in n.lower().split() or w in n.lower() and len(w) > 2 for w in words)),
        key=lambda n: (len(n), n),
    )
    if exact_name is None and not found:
        raise ToolFailure(
            f"no CODATA constant matches {query!r}; try a name such as 'proton mass' or a symbol such as 'h'"
        )
    best = exact_name or found[0]
    others = [n for n in found if n != best]
    return ConstantSearch(
        query=query,
        count=len(set(found) | {best}),
        best=_constant(best),
        matches=[_constant(n) for n in others[:limit]],
    )


# -- gases, light, decay, density ------------------------------------------------------------

R_GAS = sc.R  # J / (mol K)


class GasState(BaseModel):
    solved_for: Literal["pressure", "volume", "amount", "temperature"]
    result: float = Field(description="The solved quantity in result_unit")
    result_unit: str
    pressure_pa: float
    volume_m3: float
    amount_mol: float
    temperature_k: float
    pressure_atm: float
    volume_l: float
    temperature_c: float


@DOMAIN.tool(
    meaning=no_facts("solves PV = nRT for quantities the caller supplies"),
    kind="processing",
    examples=[
        Example(
            {"pressure": "1 atm", "amount": "1 mol", "temperature": "0 degC"},
            lambda r: r["solved_for"] == "volume" and abs(r["volume_l"] - 22.414) < 0.01,
        ),
        Example(
            {"volume": "10 L", "amount": "0.5 mol", "temperature": "300 K", "result_unit": "kPa"},
            lambda r: r["solved_for"] == "pressure" and abs(r["result"] - 124.72) < 0.05 and r["result_unit"] == "kPa",
        ),
        Example(
            {"pressure": "101.325 kPa", "volume": "24.465 L", "temperature": "25 degC"},
            lambda r: abs(r["amount_mol"] - 1.0) < 1e-3,
        ),
    ],
)
def ideal_gas_law(
    s: ScienceState,
    pressure: Annotated[
        str | None, Field(description="Pressure with unit: '1 atm', '101.3 kPa', '760 mmHg'", max_length=60)
    ] = None,
    volume: Annotated[str | None, Field(description="Volume with unit: '22.4 L', '1 m^3'", max_length=60)] = None,
    amount: Annotated[str | None, Field(description="Amount of gas: '1 mol'", max_length=60)] = None,
    temperature: Annotated[
        str | None, Field(description="Absolute or Celsius/Fahrenheit temperature: '300 K', '25 degC'", max_length=60)
    ] = None,
    result_unit: Annotated[
        str | None, Field(description="Unit for the solved quantity (default SI, litres for volume)", max_length=30)
    ] = None,
) -> GasState:
    """Solve PV = nRT for whichever one of pressure, volume, amount (moles) or temperature is left out,
    with units on every input, and report the full state in SI and everyday units."""
    given = {"pressure": pressure, "volume": volume, "amount": amount, "temperature": temperature}
    missing = [k for k, v in given.items() if v is None]
    if len(missing) != 1:
        raise ToolFailure(
            f"give exactly three of pressure, volume, amount and temperature; missing: {', '.join(missing) or 'none'}"
        )
    dims = {"pressure": "Pa", "volume": "m^3", "amount": "mol", "temperature": "K"}
    si = {k: convert(parse_quantity(v, k), dims[k], k) for k, v in given.items() if v is not None}
    if "temperature" in si and si["temperature"] <= 0:
        raise ToolFailure("temperature must be above absolute zero (0 K)")
    for k in ("pressure", "volume", "amount"):
        if k in si and si[k] <= 0:
            raise ToolFailure(f"{k} must be positive")
    target = missing[0]
    if target == "pressure":
        si["pressure"] = si["amount"] * R_GAS * si["temperature"] / si["volume"]
    elif target == "volume":
        si["volume"] = si["amount"] * R_GAS * si["temperature"] / si["pressure"]
    elif target == "amount":
        si["amount"] = si["pressure"] * si["volume"] / (R_GAS * si["temperature"])
    else:
        si["temperature"] = si["pressure"] * si["volume"] / (si["amount"] * R_GAS)
    default_unit = {"pressure": "Pa", "volume": "L", "amount": "mol", "temperature": "K"}[target]
    unit = result_unit or default_unit
    result = convert(make_quantity(si[target], dims[target]), unit, target)
    return GasState(
        solved_for=target,
        result=sig(result),
        result_unit=unit,
        pressure_pa=sig(si["pressure"]),
        volume_m3=sig(si["volume"]),
        amount_mol=sig(si["amount"]),
        temperature_k=sig(si["temperature"]),
        pressure_atm=sig(si["pressure"] / sc.atm),
        volume_l=sig(si["volume"] * 1000),
        temperature_c=sig(si["temperature"] - 273.15),
    )


_BANDS = (
    (1e-11, "gamma ray"),
    (1e-8, "X-ray"),
    (3.8e-7, "ultraviolet"),
    (7.5e-7, "visible"),
    (1e-3, "infrared"),
    (1.0, "microwave"),
    (math.inf, "radio"),
)
_COLOURS = (
    (4.5e-7, "violet"),
    (4.95e-7, "blue"),
    (5.7e-7, "green"),
    (5.9e-7, "yellow"),
    (6.2e-7, "orange"),
    (7.5e-7, "red"),
)


class Photon(BaseModel):
    wavelength_m: float
    wavelength_nm: float
    frequency_hz: float
    energy_j: float
    energy_ev: float
    wavenumber_per_cm: float
    band: str = Field(description="Region of the electromagnetic spectrum")
    colour: str | None = Field(description="Perceived colour for visible light")


@DOMAIN.tool(
    meaning=no_facts("converts a wavelength, frequency or photon energy the caller supplies"),
    kind="processing",
    examples=[
        Example(
            {"quantity": "500 nm"},
            lambda r: abs(r["energy_ev"] - 2.4797) < 1e-3 and r["band"] == "visible" and r["colour"] == "green",
        ),
        Example(
            {"quantity": "2.45 GHz"}, lambda r: r["band"] == "microwave" and abs(r["wavelength_m"] - 0.12236) < 1e-4
        ),
        Example(
            {"quantity": "13.6 eV"}, lambda r: r["band"] == "ultraviolet" and abs(r["wavelength_nm"] - 91.16) < 0.05
        ),
    ],
)
def photon_properties(
    s: ScienceState,
    quantity: Annotated[
        str,
        Field(
            description="One property of the light with its unit: a "
            "wavelength ('500 nm'), a frequency ('2.45 GHz') or a photon energy ('13.6 eV', "
            "'3e-19 J')",
            min_length=3,
            max_length=60,
        ),
    ],
) -> Photon:
    """Convert between wavelength, frequency and photon energy of light (c = λν, E = hν), with the
    wavenumber, the spectrum band (radio to gamma) and, for visible light, its colour."""
    q = parse_quantity(quantity, "quantity")
    if q.check("[length]"):
        wavelength = convert(q, "m", "quantity")
    elif q.check("[frequency]"):
        wavelength = sc.c / convert(q, "Hz", "quantity")
    elif q.check("[energy]"):
        wavelength = sc.h * sc.c / convert(q, "J", "quantity")
    else:
        raise ToolFailure(f"{quantity!r} is not a wavelength, frequency or energy (it measures {q.dimensionality})")
    if wavelength <= 0:
        raise ToolFailure("the quantity must be positive")
    freq = sc.c / wavelength
    energy = sc.h * freq
    band = next(name for limit, name in _BANDS if wavelength < limit)
    colour = next((name for limit, name in _COLOURS if wavelength < limit), None) if band == "visible" else None
    return Photon(
        wavelength_m=sig(wavelength),
        wavelength_nm=sig(wavelength * 1e9),
        frequency_hz=sig(freq),
        energy_j=sig(energy),
        energy_ev=sig(energy / sc.eV),
        wavenumber_per_cm=sig(1 / (wavelength * 100)),
        band=band,
        colour=colour,
    )


class Decay(BaseModel):
    half_life: str
    elapsed: str
    remaining_fraction: float
    remaining_percent: float
    half_lives_elapsed: float
    decay_constant_per_second: float
    mean_lifetime_seconds: float
    initial_amount: str | None
    remaining_amount: str | None = Field(description="What is left of initial_amount, in its unit")


@DOMAIN.tool(
    meaning=no_facts("decays by a half-life and a time the caller supplies"),
    kind="processing",
    examples=[
        Example(
            {"half_life": "5730 year", "elapsed": "11460 year", "initial_amount": "80 g"},
            lambda r: r["remaining_fraction"] == 0.25 and r["remaining_amount"] == "20 g",
        ),
        Example({"half_life": "5730 year", "remaining_fraction": 0.5}, lambda r: r["elapsed"] == "5730 year"),
        Example(
            {"half_life": "8.02 day", "elapsed": "30 day"}, lambda r: abs(r["remaining_fraction"] - 0.07488) < 1e-4
        ),
    ],
)
def radioactive_decay(
    s: ScienceState,
    half_life: Annotated[
        str,
        Field(description="Half-life with a time unit: '5730 year', '8.02 day', '6 hour'", min_length=3, max_length=60),
    ],
    elapsed: Annotated[
        str | None, Field(description="Time passed (with unit); give this or remaining_fraction", max_length=60)
    ] = None,
    remaining_fraction: Annotated[
        float | None,
        Field(
            gt=0, le=1, description="Fraction left (0-1); give this to solve for the elapsed time (e.g. carbon dating)"
        ),
    ] = None,
    initial_amount: Annotated[
        str | None, Field(description="Starting amount with a unit ('80 g', '1000 Bq') to scale", max_length=60)
    ] = None,
) -> Decay:
    """Exponential radioactive decay from a half-life: the fraction (and amount) left after a time, or the
    time needed to fall to a given fraction, with the decay constant and mean lifetime."""
    if (elapsed is None) == (remaining_fraction is None):
        raise ToolFailure(
            "give exactly one of elapsed (to get the fraction left) or remaining_fraction (to get the time)"
        )
    hl = parse_quantity(half_life, "half_life")
    hl_s = convert(hl, "s", "half_life")
    if hl_s <= 0:
        raise ToolFailure("half_life must be positive")
    hl_unit = str(hl.units)
    if elapsed is not None:
        t_s = convert(parse_quantity(elapsed, "elapsed"), "s", "elapsed")
        if t_s < 0:
            raise ToolFailure("elapsed must not be negative")
        fraction = 0.5 ** (t_s / hl_s)
        elapsed_text = elapsed.strip()
    else:
        fraction = float(remaining_fraction)
        t_s = -math.log2(fraction) * hl_s
        in_half_life_unit = sig(convert(make_quantity(t_s, "s"), hl_unit, "elapsed"), 10)
        elapsed_text = f"{in_half_life_unit:g} {half_life.strip().partition(' ')[2].strip()}"
    remaining = None
    if initial_amount is not None:
        q0 = parse_quantity(initial_amount, "initial_amount")
        remaining = f"{sig(float(q0.magnitude) * fraction, 10):g} {initial_amount.strip().partition(' ')[2].strip()}"
    lam = math.log(2) / hl_s
    return Decay(
        half_life=half_life.strip(),
        elapsed=elapsed_text,
        remaining_fraction=sig(fraction),
        remaining_percent=sig(fraction * 100),
        half_lives_elapsed=sig(t_s / hl_s),
        decay_constant_per_second=sig(lam),
        mean_lifetime_seconds=sig(1 / lam),
        initial_amount=initial_amount.strip() if initial_amount else None,
        remaining_amount=remaining,
    )


class DensitySolution(BaseModel):
    solved_for: Literal["mass", "volume", "density"]
    material: str | None = Field(description="Element whose tabulated density was used, if any")
    mass_kg: float
    mass_g: float
    volume_m3: float
    volume_cm3: float
    volume_l: float
    density_kg_m3: float
    density_g_cm3: float


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("volume_cm3", "the volume of {mass} of {material}", unit="cubic centimetres"),
            Fact("mass_g", "the mass of {volume} of {material}", unit="grams"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"mass": "1 kg", "material": "Au"},
            lambda r, w: (
                r["solved_for"] == "volume"
                and abs(r["volume_cm3"] - 1000 / fact(w, "SELECT density FROM elements WHERE symbol = 'Au'")) < 1e-6
            ),
        ),
        Example(
            {"mass": "500 g", "volume": "200 cm^3"}, lambda r: r["density_g_cm3"] == 2.5 and r["density_kg_m3"] == 2500
        ),
        Example({"density": "1 g/cm^3", "volume": "2 L"}, lambda r: r["mass_kg"] == 2),
    ],
)
def density_mass_volume(
    s: ScienceState,
    mass: Annotated[str | None, Field(description="Mass with unit: '500 g', '2 kg', '1 lb'", max_length=60)] = None,
    volume: Annotated[
        str | None, Field(description="Volume with unit: '200 cm^3', '2 L', '1 gallon'", max_length=60)
    ] = None,
    density: Annotated[
        str | None, Field(description="Density with unit: '2.7 g/cm^3', '1000 kg/m^3'", max_length=60)
    ] = None,
    material: Annotated[
        str | None,
        Field(
            description="An element ('Au', 'iron') whose tabulated density to use instead of `density`", max_length=40
        ),
    ] = None,
) -> DensitySolution:
    """Solve density = mass / volume for the missing one of the three, with units; a chemical element can
    stand in for the density (its tabulated value from the world's element table): 'what volume does
    1 kg of gold occupy'."""
    material_name = None
    if material is not None:
        if density is not None:
            raise ToolFailure("give density or material, not both")
        element = s.elements.find(material)
        if element.density is None:
            raise ToolFailure(f"{element.name} has no tabulated density; give `density` instead")
        density = f"{element.density} g/cm^3"
        material_name = element.name
    given = {"mass": mass, "volume": volume, "density": density}
    missing = [k for k, v in given.items() if v is None]
    if len(missing) != 1:
        raise ToolFailure("give exactly two of mass, volume and density (or material in place of density)")
    dims = {"mass": "kg", "volume": "m^3", "density": "kg/m^3"}
    si = {k: convert(parse_quantity(v, k), dims[k], k) for k, v in given.items() if v is not None}
    for k, v in si.items():
        if v <= 0:
            raise ToolFailure(f"{k} must be positive")
    target = missing[0]
    if target == "mass":
        si["mass"] = si["density"] * si["volume"]
    elif target == "volume":
        si["volume"] = si["mass"] / si["density"]
    else:
        si["density"] = si["mass"] / si["volume"]
    return DensitySolution(
        solved_for=target,
        material=material_name,
        mass_kg=sig(si["mass"]),
        mass_g=sig(si["mass"] * 1000),
        volume_m3=sig(si["volume"]),
        volume_cm3=sig(si["volume"] * 1e6),
        volume_l=sig(si["volume"] * 1000),
        density_kg_m3=sig(si["density"]),
        density_g_cm3=sig(si["density"] / 1000),
    )
