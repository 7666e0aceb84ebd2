"""Business figures from the world: company size and revenue rankings, product sales from the order book."""

from __future__ import annotations

import sqlite3
import statistics
from typing import Annotated

from dive.servers.kit import Example, Fact, Meaning, Takes, ToolFailure
from pydantic import BaseModel, Field

from .domain import DOMAIN, FinanceState, fact, fold_name, money, parse_month_date


def _rows(s: FinanceState, sql: str, *params: object) -> list[tuple]:
    con = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


class CompanyFinancials(BaseModel):
    entity_id: str = Field(description="'company:<id>'")
    name: str
    sector: str
    headquarters: str = Field(description="'City, Country'")
    headquarters_entity_id: str
    founded: int | None
    age_in_year: int | None = Field(description="Years since founding, in `as_of_year`")
    employees: int
    revenue_musd: float = Field(description="Annual revenue, millions of US dollars")
    revenue_per_employee_usd: float | None
    sector_companies: int = Field(description="Companies in the same sector in the world")
    sector_revenue_rank: int = Field(description="1 = highest revenue in its sector")
    sector_median_revenue_musd: float
    ticker: str | None = Field(description="Stock ticker when the world has its price series")


@DOMAIN.tool(
    meaning=Meaning(
        takes={"company": Takes("company", "name")},
        facts=(
            Fact("sector", "the sector of {company}"),
            Fact("headquarters", "the headquarters city of {company}", refers_to="city", by="name"),
            Fact("founded", "the founding year of {company}"),
            Fact("age_in_year", "the age of {company} in 2024", unit="years"),
            Fact("employees", "the number of employees of {company}"),
            Fact("revenue_musd", "the annual revenue of {company}", unit="millions of US dollars"),
            Fact("revenue_per_employee_usd", "the annual revenue per employee of {company}", unit="US dollars"),
            Fact("sector_companies", "the number of companies in the sector of {company}"),
            Fact("sector_revenue_rank", "the revenue rank of {company} among the companies of its sector"),
            Fact("sector_median_revenue_musd", "the median annual revenue of the companies in the sector of {company}",
                 unit="millions of US dollars"),
            Fact("ticker", "the stock ticker of {company}", refers_to="company", by="ticker"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"company": "Microsoft"},
            lambda r: r["ticker"] == "MSFT" and r["headquarters"].startswith("Redmond") and r["employees"] == 89000,
        ),
        Example(
            {"company": "company:c0007", "as_of_year": 2020},
            lambda r, w: (
                r["revenue_musd"] == fact(w, "SELECT revenue_musd FROM companies WHERE id = 'c0007'")
                and r["age_in_year"] == 2020 - fact(w, "SELECT founded FROM companies WHERE id = 'c0007'")
                and 1 <= r["sector_revenue_rank"] <= r["sector_companies"]
            ),
        ),
    ],
)
def company_financials(
    s: FinanceState,
    company: Annotated[
        str,
        Field(
            description="Company id ('company:c0007' or 'c0007'), exact name ('Rivercrest Energy') or ticker ('MSFT')",
            min_length=2,
            max_length=100,
        ),
    ],
    as_of_year: Annotated[int, Field(ge=1800, le=2100, description="Year to measure the company's age in")] = 2024,
) -> CompanyFinancials:
    """A company's size and standing: sector, headquarters, founding year and age, employees, annual
    revenue, revenue per employee, and its revenue rank and the median revenue within its sector."""
    raw = company.strip()
    key = raw.split(":", 1)[1] if raw.lower().startswith("company:") else raw
    rows = _rows(
        s,
        "SELECT co.id, co.name, co.sector, ci.name, cn.name, co.hq_city_id, co.founded, co.employees, co.revenue_musd,"
        " co.ticker FROM companies co JOIN cities ci ON ci.id = co.hq_city_id"
        " JOIN countries cn ON cn.code = ci.country_code"
        " WHERE co.id = ? OR lower(co.name) = lower(?) OR upper(coalesce(co.ticker, '')) = upper(?)",
        key,
        key,
        key,
    )
    if not rows:
        close = [r[0] for r in _rows(s, "SELECT name FROM companies") if fold_name(key) in fold_name(r[0])][:5]
        hint = f"; names containing it: {', '.join(close)}" if close else ""
        raise ToolFailure(
            f"no company {company!r} in the world{hint}; give an id such as 'company:c0007' or an exact name"
        )
    cid, name, sector, city, country, city_id, founded, employees, revenue, ticker = rows[0]
    peers = sorted(
        (r[0] for r in _rows(s, "SELECT revenue_musd FROM companies WHERE sector = ?", sector)), reverse=True
    )
    return CompanyFinancials(
        entity_id=f"company:{cid}",
        name=name,
        sector=sector,
        headquarters=f"{city}, {country}",
        headquarters_entity_id=f"city:{city_id}",
        founded=founded,
        age_in_year=as_of_year - founded if founded else None,
        employees=employees,
        revenue_musd=revenue,
        revenue_per_employee_usd=money(revenue * 1e6 / employees) if employees else None,
        sector_companies=len(peers),
        sector_revenue_rank=1 + sum(1 for p in peers if p > revenue),
        sector_median_revenue_musd=round(statistics.median(peers), 2),
        ticker=ticker if ticker in s.market.series else None,
    )


class YearSales(BaseModel):
    year: int
    orders: int
    units: int
    revenue: float


class ProductSales(BaseModel):
    entity_id: str = Field(description="'product:<id>'")
    name: str
    category: str
    unit_price: float
    orders: int
    units: int
    revenue: float
    average_order_value: float | None
    first_order: str | None
    last_order: str | None
    category_revenue_rank: int = Field(description="1 = best-selling product of its category by revenue in the window")
    category_products: int
    by_year: list[YearSales]


@DOMAIN.tool(
    meaning=Meaning(
        takes={"product": Takes("product", "name")},
        facts=(
            Fact("orders", "the number of orders for {product}"),
            Fact("units", "the number of units of {product} ordered"),
            Fact("revenue", "the total value of the orders for {product}"),
            Fact("average_order_value", "the average value of an order for {product}"),
            Fact("category_revenue_rank", "the rank of {product} by total order value among the products of its "
                 "category"),
        ),
    ),
    kind="retrieval",
    examples=[
        Example(
            {"product": "p0001"},
            lambda r, w: (
                r["revenue"] == round(fact(w, "SELECT SUM(amount) FROM orders WHERE product_id = 'p0001'") or 0, 2)
                and r["orders"] == fact(w, "SELECT COUNT(*) FROM orders WHERE product_id = 'p0001'")
                and sum(y["units"] for y in r["by_year"]) == r["units"]
            ),
        ),
        Example(
            {"product": "product:p0002", "start": "2023-01-01", "end": "2023-12-31"},
            lambda r: all(y["year"] == 2023 for y in r["by_year"]) and r["category"] == "Books",
        ),
    ],
)
def product_sales(
    s: FinanceState,
    product: Annotated[
        str,
        Field(description="Product id ('p0001', 'product:p0001') or exact name", min_length=2, max_length=100),
    ],
    start: Annotated[str | None, Field(description="First order date counted, YYYY-MM-DD", max_length=10)] = None,
    end: Annotated[str | None, Field(description="Last order date counted, YYYY-MM-DD", max_length=10)] = None,
) -> ProductSales:
    """A product's sales from the world's order book: orders, units, revenue, average order value, first
    and last order, revenue per year, and its revenue rank within its category, optionally for a date
    window."""
    raw = product.strip()
    key = raw.split(":", 1)[1] if raw.lower().startswith("product:") else raw
    found = _rows(
        s, "SELECT id, name, category, unit_price FROM products WHERE id = ? OR lower(name) = lower(?)", key, key
    )
    if not found:
        raise ToolFailure(f"no product {product!r}; give an id such as 'p0001' or an exact product name")
    pid, name, category, price = found[0]
    lo = parse_month_date(start, "start").isoformat() if start else "0000-00-00"
    hi = parse_month_date(end, "end").isoformat() if end else "9999-99-99"
    if lo > hi:
        raise ToolFailure("end must not be before start")
    per_year = _rows(
        s,
        "SELECT substr(order_date, 1, 4), COUNT(*), SUM(quantity), SUM(amount) FROM orders"
        " WHERE product_id = ? AND order_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1",
        pid,
        lo,
        hi,
    )
    span = _rows(
        s,
        "SELECT MIN(order_date), MAX(order_date) FROM orders WHERE product_id = ? AND order_date BETWEEN ? AND ?",
        pid,
        lo,
        hi,
    )[0]
    ranking = _rows(
        s,
        "SELECT p.id, coalesce(SUM(o.amount), 0) FROM products p LEFT JOIN orders o ON o.product_id = p.id"
        " AND o.order_date BETWEEN ? AND ? WHERE p.category = ? GROUP BY p.id",
        lo,
        hi,
        category,
    )
    orders = sum(r[1] for r in per_year)
    units = sum(r[2] for r in per_year)
    revenue = sum(r[3] for r in per_year)
    mine = next(r[1] for r in ranking if r[0] == pid)
    return ProductSales(
        entity_id=f"product:{pid}",
        name=name,
        category=category,
        unit_price=price,
        orders=orders,
        units=units,
        revenue=money(revenue),
        average_order_value=money(revenue / orders) if orders else None,
        first_order=span[0],
        last_order=span[1],
        category_revenue_rank=1 + sum(1 for r in ranking if r[1] > mine),
        category_products=len(ranking),
        by_year=[YearSales(year=int(y), orders=n, units=u, revenue=money(a)) for y, n, u, a in per_year],
    )
