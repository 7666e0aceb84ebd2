"""The sentences that describe each entity: written once here, shown on web pages and stored as documents.

Numbers are formatted one way everywhere (thousands separators, fixed decimals) so the same fact reads
the same in every domain.
"""

from __future__ import annotations

from .catalog import Catalog
from .seeded import Company
from .sources import Airport, City, Country, Element


def fmt_int(n: int) -> str:
    """1234567 -> "1,234,567"."""
    return f"{n:,}"


def fmt_money(x: float) -> str:
    """2447.9 -> "2,447.90"."""
    return f"{x:,.2f}"


def fmt_number(x: float) -> str:
    """A measured value as the data gives it: 547030.0 -> "547,030", 55.845 -> "55.845"."""
    return fmt_int(int(x)) if float(x).is_integer() else repr(float(x))


def ordinal(n: int) -> str:
    """1 -> "1st", 12 -> "12th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _and_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def city_rank_in_country(cat: Catalog, city: City) -> int:
    """1 for the most populous city of its country."""
    return next(i for i, c in enumerate(cat.cities_by_country[city.country_code], start=1) if c.id == city.id)


def city_prose(cat: Catalog, city: City) -> list[str]:
    """Paragraphs describing a city, its airports and the companies headquartered there."""
    country = cat.country_by_code[city.country_code]
    continent = cat.continent_by_code[country.continent].name
    rank = city_rank_in_country(cat, city)
    which = "the largest city" if rank == 1 else f"the {ordinal(rank)} largest city"
    paragraphs = [(
        f"{city.name} is a city in {country.name} ({continent}) with a population of {fmt_int(city.population)}. "
        f"It is {which} of {country.name} in this atlas. It lies at latitude {city.latitude} and longitude "
        f"{city.longitude}, in the {city.timezone} time zone."
    )]
    airports = cat.page_airports_by_city.get(city.id, [])
    if airports:
        names = [f"{a.name} ({a.iata})" for a in airports]
        noun = "airport" if len(names) == 1 else "airports"
        paragraphs.append(f"{city.name} is served by {len(names)} {noun} listed here: {_and_list(names)}.")
    companies = cat.companies_by_city.get(city.id, [])
    if companies:
        noun = "company is" if len(companies) == 1 else "companies are"
        paragraphs.append(f"{len(companies)} {noun} headquartered in {city.name}: {_and_list([c.name for c in companies])}.")
    return paragraphs


def country_prose(cat: Catalog, country: Country) -> list[str]:
    """Paragraphs describing a country: capital, size, currency, and its largest city."""
    continent = cat.continent_by_code[country.continent].name
    first = (f"{country.name} (ISO code {country.code}, {country.iso3}) is a country in {continent}. "
             + (f"Its capital is {country.capital}. " if country.capital else "")
             + f"It has a population of {fmt_int(country.population)} and an area of {fmt_number(country.area_km2)} km².")
    paragraphs = [first]
    money = []
    if country.currency_name:
        money.append(f"Its currency is the {country.currency_name} ({country.currency_code}).")
    if country.tld:
        money.append(f"Its internet domain is {country.tld}.")
    if country.phone:
        money.append(f"Its telephone calling code is +{country.phone}.")
    if money:
        paragraphs.append(" ".join(money))
    cities = cat.cities_by_country.get(country.code, [])
    if cities:
        paragraphs.append(f"The atlas lists {fmt_int(len(cities))} cities of {country.name} with more than 15,000 people; "
                          f"the largest is {cities[0].name} with {fmt_int(cities[0].population)} people.")
    return paragraphs


def airport_prose(cat: Catalog, airport: Airport) -> list[str]:
    """Paragraphs describing an airport and the city it serves."""
    country = cat.country_name(airport.country_code)
    where = ", ".join(p for p in (airport.city, airport.region, country) if p)
    text = f"{airport.name} (IATA {airport.iata}, ICAO {airport.icao}) is an airport in {where}. "
    if airport.elevation_ft is not None:
        text += f"It lies at an elevation of {fmt_int(airport.elevation_ft)} ft, "
    else:
        text += "It lies "
    text += f"at latitude {airport.latitude} and longitude {airport.longitude}, in the {airport.timezone} time zone."
    paragraphs = [text]
    served = cat.airport_city.get(airport.iata)
    if served is not None:
        city = cat.city_by_id[served]
        paragraphs.append(f"It serves {cat.city_label(city)}, a city of {fmt_int(city.population)} people.")
    return paragraphs


def element_prose(element: Element) -> list[str]:
    """A paragraph describing a chemical element."""
    density = (f"its density is {fmt_number(element.density)} g/cm³" if element.density is not None
               else "its density is not known")
    return [(f"{element.name} (symbol {element.symbol}) is the chemical element with atomic number {element.number}. "
             f"Its standard atomic mass is {fmt_number(element.mass)} and {density}.")]


def company_prose(cat: Catalog, company: Company) -> list[str]:
    """Paragraphs describing a company, its headquarters and its ticker."""
    city = cat.city_by_id[company.hq_city_id]
    paragraphs = [(
        f"{company.name} is a {company.sector.lower()} company headquartered in {cat.city_label(city)}. "
        f"It was founded in {company.founded}, employs {fmt_int(company.employees)} people and reported revenue "
        f"of {fmt_money(company.revenue_musd)} million US dollars."
    )]
    if company.ticker:
        paragraphs.append(f"Its shares trade under the ticker {company.ticker}.")
    return paragraphs


def stock_prose(cat: Catalog, symbol: str) -> list[str]:
    """A paragraph summarising a stock's monthly price series."""
    prices = [p for p in cat.stock_prices if p.symbol == symbol]
    low = min(prices, key=lambda p: (p.price, p.date))
    high = max(prices, key=lambda p: (p.price, p.date))
    company = cat.company_by_ticker[symbol]
    return [(f"{symbol} is the stock ticker of {company.name}. The atlas holds {len(prices)} monthly closing prices "
             f"from {prices[0].date} to {prices[-1].date}: the first was {fmt_money(prices[0].price)} and the last "
             f"{fmt_money(prices[-1].price)} US dollars; the lowest was {fmt_money(low.price)} ({low.date}) and the "
             f"highest {fmt_money(high.price)} ({high.date}).")]
