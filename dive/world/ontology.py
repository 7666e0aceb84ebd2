"""What the world's data means: its entity types, what each attribute is called in English, and how entities
relate. Servers publish it in their tools' meanings; synthesis phrases questions with it.

An attribute's `phrase` is the noun a question uses ("the population of ..."); `refers_to` marks a value that
names another entity (a country's capital names a city), so a chain can pass from one entity to the next.
A relation is a list of entities that belong to another one (the cities of a country), described by `phrase`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Attribute:
    """One attribute of an entity type, as a question speaks of it."""

    phrase: str
    """The noun for the attribute ('population': 'the population of Chile'), or a phrase with {} where the
    entity goes ('the city served by {}')."""
    unit: str | None = None
    """The unit a number is in, said in the question ('feet'); None for counts and text."""
    refers_to: str | None = None
    """The entity type the value names (a country's `capital` names a city), or None."""
    by: str | None = None
    """Which key of `refers_to` the value is (a city's `country_code` is a country's `code`)."""
    most: str | None = None
    """The superlative that picks the entity with the largest value ('most populous'), for definite descriptions."""
    least: str | None = None
    label: str | None = None
    """How the world's web pages label the attribute in their fact tables ('Population')."""
    additive: bool = False
    """Values of several entities add up to something a person asks about (populations, areas, amounts), unlike
    elevations or coordinates."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None and v is not False}

    def of(self, subject: str) -> str:
        """The noun phrase for this attribute of `subject`: 'the population of Chile'."""
        return self.phrase.format(subject) if "{}" in self.phrase else f"the {self.phrase} of {subject}"


@dataclass(frozen=True)
class EntityType:
    """A kind of world entity: its table, its keys and its attributes."""

    name: str
    table: str
    plural: str
    key: str
    """The primary-key column."""
    keys: tuple[str, ...]
    """Columns whose value identifies one entity (the key first); 'name' only when names are unique."""
    attributes: dict[str, Attribute] = field(default_factory=dict)
    entity_key: str | None = None
    """The column whose value makes the world's entity id ('city:' + id, 'airport:' + iata); None if none."""
    singular: str = ""
    """The noun for one of them ('city'); default: the type's name."""
    file_columns: tuple[str, ...] = ()
    """Columns that, all in a table read from a workspace file, make its rows records of this type (a CSV file
    with 'iata' and 'icao' columns lists airports)."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Column -> the name such a file gives it ('id' -> 'geonameid' for cities)."""

    @property
    def noun(self) -> str:
        return self.singular or self.name

    def column(self, name: str, row: dict[str, Any]) -> str:
        """The field of `row` holding the column `name` (its alias in a file's table when the row has that)."""
        alias = self.aliases.get(name)
        return alias if alias is not None and alias in row and name not in row else name

    def entity_id(self, row: dict[str, Any]) -> str | None:
        """The world entity id of a row of this type ('city:3871336'), or None."""
        if self.entity_key is None or row.get(self.column(self.entity_key, row)) in (None, ""):
            return None
        return f"{self.name}:{row[self.column(self.entity_key, row)]}"


@dataclass(frozen=True)
class Relation:
    """The entities of one type that belong to an entity of another: rows of `child` whose `column` holds the
    parent's `by` key (the cities whose country_code is the country's code)."""

    child: str
    column: str
    parent: str
    by: str
    plural: str
    """A plural noun phrase with {} for the parent: 'cities of {}'."""
    singular: str
    """One of them, for definite descriptions: 'city of {}' (-> 'the most populous city of Chile')."""


def _number(phrase: str, unit: str | None = None, most: str | None = None, least: str | None = None,
            label: str | None = None, additive: bool = False) -> Attribute:
    return Attribute(phrase, unit=unit, most=most or f"with the highest {phrase}", least=least or f"with the lowest {phrase}",
                     label=label or phrase.capitalize(), additive=additive)


TYPES: dict[str, EntityType] = {t.name: t for t in [
    EntityType("continent", "continents", "continents", "code", ("code", "name"), {
        "population": _number("population", most="most populous", least="least populous", additive=True),
    }),
    EntityType("country", "countries", "countries", "code", ("code", "iso3", "name"), {
        "iso3": Attribute("three-letter ISO code", label="ISO 3166 alpha-3"),
        "continent": Attribute("continent", refers_to="continent", by="code", label="Continent"),
        "capital": Attribute("capital", refers_to="city", by="name", label="Capital"),
        "population": _number("population", most="most populous", least="least populous", additive=True),
        "area_km2": _number("area", "square kilometres", most="largest", least="smallest", label="Area", additive=True),
        "currency_code": Attribute("currency code", label="Currency code"),
        "currency_name": Attribute("currency", label="Currency"),
        "tld": Attribute("internet country domain", label="Internet domain"),
        "phone": Attribute("international calling code", label="Calling code"),
    }),
    EntityType("city", "cities", "cities", "id", ("id",), {
        "country_code": Attribute("country", refers_to="country", by="code", label="Country"),
        "population": _number("population", most="most populous", least="least populous", additive=True),
        "latitude": _number("latitude", "degrees", most="northernmost", least="southernmost"),
        "longitude": _number("longitude", "degrees", most="easternmost", least="westernmost"),
        "timezone": Attribute("time zone", label="Time zone"),
    }),
    EntityType("airport", "airports", "airports", "icao", ("icao", "iata"), {
        "iata": Attribute("IATA code", label="IATA code"),
        "icao": Attribute("ICAO code", label="ICAO code"),
        "country_code": Attribute("country", refers_to="country", by="code", label="Country"),
        "elevation_ft": _number("elevation", "feet", most="highest", least="lowest-lying", label="Elevation"),
        "latitude": _number("latitude", "degrees", most="northernmost", least="southernmost"),
        "longitude": _number("longitude", "degrees", most="easternmost", least="westernmost"),
        "timezone": Attribute("time zone", label="Time zone"),
        "city_id": Attribute("the city served by {}", refers_to="city", by="id", label="Serves"),
    }),
    EntityType("element", "elements", "chemical elements", "number", ("number", "symbol", "name"), {
        "number": _number("atomic number", label="Atomic number"),
        "symbol": Attribute("chemical symbol", label="Symbol"),
        "mass": _number("atomic mass", most="heaviest", least="lightest", label="Atomic mass"),
        "density": _number("density", "grams per cubic centimetre", most="densest", least="least dense"),
    }),
    EntityType("company", "companies", "companies", "id", ("id", "ticker", "name"), {
        "sector": Attribute("sector", label="Sector"),
        "hq_city_id": Attribute("headquarters city", refers_to="city", by="id", label="Headquarters"),
        "founded": _number("founding year", most="most recently founded", least="oldest", label="Founded"),
        "employees": _number("number of employees", most="with the most employees", least="with the fewest employees",
                             label="Employees", additive=True),
        "revenue_musd": _number("annual revenue", "millions of US dollars", most="with the highest revenue",
                                least="with the lowest revenue", label="Revenue", additive=True),
        "ticker": Attribute("stock ticker", label="Ticker"),
    }),
    EntityType("product", "products", "products", "id", ("id", "name"), {
        "category": Attribute("category", label="Category"),
        "unit_price": _number("unit price", most="most expensive", least="cheapest", label="Unit price"),
    }),
    EntityType("customer", "customers", "customers", "id", ("id", "email"), {
        "email": Attribute("email address", label="Email"),
        "city_id": Attribute("the home city of {}", refers_to="city", by="id", label="City"),
        "signup_date": Attribute("sign-up date", label="Signed up"),
    }),
    EntityType("order", "orders", "orders", "id", ("id",), {
        "customer_id": Attribute("the customer who placed {}", refers_to="customer", by="id"),
        "product_id": Attribute("the product ordered in {}", refers_to="product", by="id"),
        "order_date": Attribute("order date"),
        "quantity": _number("quantity", most="with the largest quantity", least="with the smallest quantity",
                            additive=True),
        "amount": _number("amount", most="largest", least="smallest", additive=True),
    }),
]}

RELATIONS: list[Relation] = [
    Relation("country", "continent", "continent", "code", "countries of {}", "country of {}"),
    Relation("city", "country_code", "country", "code", "cities of {} in the atlas", "city of {}"),
    Relation("airport", "country_code", "country", "code", "airports in {}", "airport in {}"),
    Relation("airport", "city_id", "city", "id", "airports serving {}", "airport serving {}"),
    Relation("company", "hq_city_id", "city", "id", "companies headquartered in {}", "company headquartered in {}"),
    Relation("customer", "city_id", "city", "id", "customers based in {}", "customer based in {}"),
    Relation("order", "customer_id", "customer", "id", "orders placed by {}", "order placed by {}"),
    Relation("order", "product_id", "product", "id", "orders for {}", "order for {}"),
]

_ENTITY_KEYS = {"continent": "code", "country": "code", "city": "id", "airport": "iata", "element": "symbol",
                "company": "id", "product": "id"}
_SINGULAR = {"element": "chemical element"}
#: The world's own tables as its workspace files write them (data/airports.csv, reports/*/XX_cities.csv).
_FILE_COLUMNS = {"city": ("geonameid", "population"), "airport": ("iata", "icao"), "element": ("number", "symbol"),
                 "company": ("id", "ticker", "sector"), "product": ("id", "unit_price")}
_ALIASES = {"city": {"id": "geonameid"}}
TYPES = {name: EntityType(t.name, t.table, t.plural, t.key, t.keys, t.attributes, _ENTITY_KEYS.get(name),
                          _SINGULAR.get(name, ""), _FILE_COLUMNS.get(name, ()), _ALIASES.get(name, {}))
         for name, t in TYPES.items()}


def type_of_columns(columns: Any) -> EntityType | None:
    """The one entity type whose `file_columns` are all among `columns` (a table read from a file), or None."""
    found = [t for t in TYPES.values() if t.file_columns and set(t.file_columns) <= set(columns)]
    return found[0] if len(found) == 1 else None

#: Entity types by their table's name.
BY_TABLE: dict[str, EntityType] = {t.table: t for t in TYPES.values()}


def relation(child_table: str, column: str) -> Relation | None:
    """The relation a child table's foreign-key column expresses, or None."""
    child = BY_TABLE.get(child_table)
    if child is None:
        return None
    return next((r for r in RELATIONS if r.child == child.name and r.column == column), None)


def relations_of(parent: str) -> list[Relation]:
    """The relations whose parent is an entity of type `parent`."""
    return [r for r in RELATIONS if r.parent == parent]


def ontology_json() -> dict[str, Any]:
    """The ontology as JSON, the form servers publish in their tools' meanings."""
    return {
        "types": {t.name: {"table": t.table, "plural": t.plural, "key": t.key, "keys": list(t.keys),
                           "attributes": {k: a.to_json() for k, a in t.attributes.items()}} for t in TYPES.values()},
        "relations": [asdict(r) for r in RELATIONS],
    }
