"""Finance calculators on the numbers given: interest, loans, NPV, IRR, growth, break-even, inflation."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Literal

import numpy as np
from dive.servers.kit import Example, Fact, Meaning, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import DOMAIN, FinanceState, finite, money, pct

_PERIODS = {"annually": 1, "semiannually": 2, "quarterly": 4, "monthly": 12, "weekly": 52, "daily": 365}

RatePct = Annotated[float, Field(ge=-99.99, le=1000, description="Annual rate in percent (5 = 5%)")]


class YearBalance(BaseModel):
    year: int
    balance: float
    contributions_to_date: float
    interest_to_date: float


class CompoundInterest(BaseModel):
    future_value: float
    total_contributions: float = Field(description="Principal plus every periodic contribution")
    total_interest: float
    effective_annual_rate_pct: float = Field(description="Annual yield after compounding")
    periods: float | None = Field(description="Compounding periods in the term (null for continuous compounding)")
    by_year: list[YearBalance] = Field(description="Balance at the end of each whole year")


@DOMAIN.tool(
    meaning=no_facts("grows an amount the caller supplies at a rate the caller supplies; nothing comes from the world"),
    kind="processing",
    examples=[
        Example(
            {"principal": 1000, "annual_rate_pct": 5, "years": 10, "compounding": "annually"},
            lambda r: r["future_value"] == 1628.89 and r["total_interest"] == 628.89,
        ),
        Example(
            {"principal": 1000, "annual_rate_pct": 12, "years": 1, "compounding": "monthly"},
            lambda r: r["future_value"] == 1126.83 and abs(r["effective_annual_rate_pct"] - 12.6825) < 1e-3,
        ),
        Example(
            {"principal": 0, "annual_rate_pct": 6, "years": 10, "compounding": "monthly", "contribution": 100},
            lambda r: r["future_value"] == 16387.93 and r["total_contributions"] == 12000,
        ),
        Example(
            {"principal": 100, "annual_rate_pct": 10, "years": 1, "compounding": "continuous"},
            lambda r: r["future_value"] == 110.52,
        ),
    ],
)
def compound_interest(
    s: FinanceState,
    principal: Annotated[float, Field(ge=0, description="Starting amount")],
    annual_rate_pct: RatePct,
    years: Annotated[float, Field(gt=0, le=200, description="Term in years (fractions allowed)")],
    compounding: Annotated[
        Literal["annually", "semiannually", "quarterly", "monthly", "weekly", "daily", "continuous"],
        Field(description="How often interest is added"),
    ] = "annually",
    contribution: Annotated[
        float,
        Field(
            ge=0, description="Amount added at the end of every compounding period (not with continuous compounding)"
        ),
    ] = 0.0,
) -> CompoundInterest:
    """Grow a sum at compound interest, optionally with a regular contribution each period: the future
    value, contributions, interest earned, effective annual rate, and the balance at each year's end."""
    r = annual_rate_pct / 100
    continuous = compounding == "continuous"
    if continuous and contribution:
        raise ToolFailure("contributions need a discrete compounding frequency (e.g. monthly), not continuous")
    n_per_year = 0 if continuous else _PERIODS[compounding]
    periods = None if continuous else years * n_per_year
    if contribution and periods is not None and abs(periods - round(periods)) > 1e-9:
        raise ToolFailure(
            f"with contributions the term must be a whole number of {compounding} periods; "
            f"{years} years is {periods:g} periods"
        )
    i = 0.0 if continuous else r / n_per_year
    ear = math.exp(r) - 1 if continuous else (1 + i) ** n_per_year - 1

    def balance(t: float) -> tuple[float, float]:
        """Balance and money paid in after `t` years."""
        value = principal * (math.exp(r * t) if continuous else (1 + i) ** (t * n_per_year))
        paid = principal
        if contribution:
            k = round(t * n_per_year)
            value += contribution * (((1 + i) ** k - 1) / i if i else k)
            paid += contribution * k
        return value, paid

    fv, paid = balance(years)
    rows = []
    for y in range(1, int(years) + 1):
        v, p = balance(y)
        rows.append(
            YearBalance(year=y, balance=money(v), contributions_to_date=money(p), interest_to_date=money(v - p))
        )
    return CompoundInterest(
        future_value=money(fv),
        total_contributions=money(paid),
        total_interest=money(fv - paid),
        effective_annual_rate_pct=pct(ear),
        periods=periods,
        by_year=rows[:200],
    )


class LoanYear(BaseModel):
    year: int
    interest_paid: float
    principal_paid: float
    ending_balance: float


class Loan(BaseModel):
    payment: float = Field(description="Regular payment per period (without extra payments)")
    payments_made: int = Field(description="Number of payments until paid off (fewer with extra payments)")
    total_paid: float
    total_interest: float
    first_payment_interest: float
    first_payment_principal: float
    interest_saved_by_extra: float = Field(description="Interest saved versus no extra payment")
    by_year: list[LoanYear]


def _amortize(principal: float, i: float, payment: float, n: int) -> tuple[list[tuple[float, float, float]], float]:
    balance = principal
    rows = []
    total_interest = 0.0
    for _ in range(n * 2 + 1):
        if balance <= 1e-9:
            break
        interest = balance * i
        paid_principal = min(payment - interest, balance)
        if paid_principal <= 0:
            raise ToolFailure("the payment does not even cover the interest; the loan would never be repaid")
        balance -= paid_principal
        total_interest += interest
        rows.append((interest, paid_principal, max(balance, 0.0)))
    return rows, total_interest


@DOMAIN.tool(
    meaning=no_facts("amortises a loan the caller describes; nothing in it comes from the world"),
    kind="processing",
    examples=[
        Example(
            {"principal": 200000, "annual_rate_pct": 6, "years": 30},
            lambda r: (
                r["payment"] == 1199.10
                and abs(r["total_interest"] - 231676.38) < 1
                and r["payments_made"] == 360
                and r["first_payment_interest"] == 1000.0
            ),
        ),
        Example(
            {"principal": 10000, "annual_rate_pct": 0, "years": 2},
            lambda r: r["payment"] == 416.67 and r["total_interest"] == 0,
        ),
        Example(
            {"principal": 200000, "annual_rate_pct": 6, "years": 30, "extra_payment": 200},
            lambda r: r["payments_made"] < 360 and r["interest_saved_by_extra"] > 50000,
        ),
    ],
)
def loan_amortization(
    s: FinanceState,
    principal: Annotated[float, Field(gt=0, description="Amount borrowed")],
    annual_rate_pct: Annotated[float, Field(ge=0, le=100, description="Nominal annual interest rate in percent")],
    years: Annotated[float, Field(gt=0, le=100, description="Term in years")],
    payments_per_year: Annotated[int, Field(ge=1, le=52, description="12 = monthly payments")] = 12,
    extra_payment: Annotated[float, Field(ge=0, description="Extra principal paid with every payment")] = 0.0,
) -> Loan:
    """A fixed-rate amortizing loan (mortgage, car loan): the regular payment, total paid and total interest,
    the split of the first payment, a year-by-year schedule summary, and the effect of paying extra."""
    n = years * payments_per_year
    if abs(n - round(n)) > 1e-9:
        raise ToolFailure(f"the term must be a whole number of payments; {years} years x {payments_per_year} is {n:g}")
    n = round(n)
    i = annual_rate_pct / 100 / payments_per_year
    payment = principal / n if i == 0 else principal * i / (1 - (1 + i) ** -n)
    base_rows, base_interest = _amortize(principal, i, payment, n)
    rows, interest = (
        _amortize(principal, i, payment + extra_payment, n) if extra_payment else (base_rows, base_interest)
    )
    by_year = []
    for start in range(0, len(rows), payments_per_year):
        chunk = rows[start : start + payments_per_year]
        by_year.append(
            LoanYear(
                year=start // payments_per_year + 1,
                interest_paid=money(sum(c[0] for c in chunk)),
                principal_paid=money(sum(c[1] for c in chunk)),
                ending_balance=money(chunk[-1][2]),
            )
        )
    return Loan(
        payment=money(payment),
        payments_made=len(rows),
        total_paid=money(principal + interest),
        total_interest=money(interest),
        first_payment_interest=money(rows[0][0]),
        first_payment_principal=money(rows[0][1]),
        interest_saved_by_extra=money(base_interest - interest),
        by_year=by_year,
    )


class NPV(BaseModel):
    npv: float
    rate_pct: float
    present_values: list[float] = Field(description="Discounted value of each cash flow")
    total_undiscounted: float
    profitability_index: float | None = Field(description="PV of inflows / PV of outflows (null without outflows)")
    discounted_payback_periods: float | None = Field(
        description="Periods until cumulative discounted flows turn non-negative (interpolated); null if never"
    )


def _npv(rate: float, flows: list[float], offset: int) -> float:
    return sum(c / (1 + rate) ** (t + offset) for t, c in enumerate(flows))


@DOMAIN.tool(
    meaning=no_facts("discounts cash flows the caller supplies; nothing in it comes from the world"),
    kind="processing",
    examples=[
        Example({"rate_pct": 10, "cash_flows": [-1000, 300, 400, 500]}, lambda r: r["npv"] == -21.04),
        Example(
            {"rate_pct": 8, "cash_flows": [-1000, 300, 400, 500]},
            lambda r: (
                r["npv"] == 17.63
                and r["discounted_payback_periods"] is not None
                and 2 < r["discounted_payback_periods"] <= 3
            ),
        ),
        Example(
            {"rate_pct": 10, "cash_flows": [100, 100], "first_flow_at": "end_of_period_1"}, lambda r: r["npv"] == 173.55
        ),
    ],
)
def net_present_value(
    s: FinanceState,
    rate_pct: Annotated[float, Field(ge=-99, le=1000, description="Discount rate per period, percent")],
    cash_flows: Annotated[
        list[float],
        Field(
            min_length=1,
            max_length=1000,
            description="Cash flows per period, outflows negative: [-1000, 300, 400, 500]",
        ),
    ],
    first_flow_at: Annotated[
        Literal["time_0", "end_of_period_1"],
        Field(
            description="time_0: the first flow is undiscounted (textbook NPV); end_of_period_1: every flow is "
            "discounted at least once (spreadsheet NPV())"
        ),
    ] = "time_0",
) -> NPV:
    """Net present value of a series of periodic cash flows at a discount rate, with each flow's present
    value, the profitability index and the discounted payback period."""
    r = rate_pct / 100
    flows = [finite(c, "cash flow") for c in cash_flows]
    offset = 0 if first_flow_at == "time_0" else 1
    pvs = [c / (1 + r) ** (t + offset) for t, c in enumerate(flows)]
    inflow = sum(v for v in pvs if v > 0)
    outflow = -sum(v for v in pvs if v < 0)
    payback = None
    cumulative = 0.0
    for t, v in enumerate(pvs):
        before = cumulative
        cumulative += v
        if cumulative >= 0 and before < 0:
            payback = round(t - 1 + (-before / v) + offset, 4) if v else float(t + offset)
            break
    return NPV(
        npv=money(sum(pvs)),
        rate_pct=rate_pct,
        present_values=[round(v, 4) for v in pvs],
        total_undiscounted=money(sum(flows)),
        profitability_index=round(inflow / outflow, 6) if outflow else None,
        discounted_payback_periods=payback,
    )


class IRR(BaseModel):
    irr_pct: float = Field(description="Internal rate of return per period, percent (the one nearest 0 when several)")
    all_irrs_pct: list[float] = Field(
        description="Every real IRR above -100%; more than one when flows change sign often"
    )
    npv_at_irr: float = Field(description="NPV at irr_pct (≈0, a check)")
    annualized_irr_pct: float | None = Field(
        description="(1 + irr)^periods_per_year - 1, when periods_per_year is given"
    )
    sign_changes: int


@DOMAIN.tool(
    meaning=no_facts("solves for the rate of cash flows the caller supplies; nothing in it comes from the world"),
    kind="processing",
    examples=[
        Example({"cash_flows": [-1000, 300, 400, 500]}, lambda r: abs(r["irr_pct"] - 8.8963) < 1e-3),
        Example({"cash_flows": [-100, 0, 121]}, lambda r: abs(r["irr_pct"] - 10) < 1e-6),
        Example(
            {"cash_flows": [-100, 230, -132]}, lambda r: r["all_irrs_pct"] == [10.0, 20.0] and r["sign_changes"] == 2
        ),
        Example(
            {"cash_flows": [-1000, 100, 100, 1100], "periods_per_year": 2},
            lambda r: abs(r["irr_pct"] - 10) < 1e-6 and abs(r["annualized_irr_pct"] - 21) < 1e-6,
        ),
    ],
)
def internal_rate_of_return(
    s: FinanceState,
    cash_flows: Annotated[
        list[float],
        Field(
            min_length=2,
            max_length=600,
            description="Cash flows per period starting at time 0, outflows negative: [-1000, 300, 400, 500]",
        ),
    ],
    periods_per_year: Annotated[
        int | None,
        Field(ge=1, le=365, description="Periods per year, to also give an annual rate (12 for monthly flows)"),
    ] = None,
) -> IRR:
    """The internal rate of return of periodic cash flows (the rate where NPV = 0), found exactly as the
    roots of the NPV polynomial; lists every IRR when the flows change sign more than once."""
    flows = [finite(c, "cash flow") for c in cash_flows]
    signs = [c > 0 for c in flows if c != 0]
    changes = sum(1 for a, b in itertools.pairwise(signs) if a != b)
    if changes == 0:
        raise ToolFailure("cash flows need at least one outflow (negative) and one inflow (positive) to have an IRR")
    # NPV(r) = sum c_t x^t with x = 1 / (1 + r): a polynomial whose positive real roots give the IRRs.
    while flows and flows[-1] == 0:
        flows.pop()
    roots = np.roots(flows[::-1]) if len(flows) > 1 else np.array([])
    rates = []
    for x in roots:
        if abs(x.imag) < 1e-9 * max(1.0, abs(x.real)) and x.real > 0:
            rate = 1 / x.real - 1
            for _ in range(50):  # Newton polish on NPV(rate)
                f = _npv(rate, flows, 0)
                df = sum(-t * c / (1 + rate) ** (t + 1) for t, c in enumerate(flows))
                if df == 0:
                    break
                step = f / df
                rate -= step
                if abs(step) < 1e-14:
                    break
            if rate > -1 and abs(_npv(rate, flows, 0)) < 1e-6 * max(1.0, max(abs(c) for c in flows)):
                rates.append(rate)
    rates = sorted({round(r, 10) for r in rates})
    if not rates:
        raise ToolFailure("these cash flows have no real internal rate of return above -100%")
    best = min(rates, key=abs)
    return IRR(
        irr_pct=round(100 * best, 6),
        all_irrs_pct=[round(100 * r, 6) for r in rates],
        npv_at_irr=round(_npv(best, flows, 0), 8),
        annualized_irr_pct=round(100 * ((1 + best) ** periods_per_year - 1), 6) if periods_per_year else None,
        sign_changes=changes,
    )


class Growth(BaseModel):
    cagr_pct: float = Field(description="Compound annual growth rate, percent")
    total_growth_pct: float
    growth_multiple: float = Field(description="end / start")
    doubling_time_years: float | None = Field(description="Years to double at this rate (null when not growing)")


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("cagr_pct", "the compound annual growth rate from {start_value} to {end_value} over {years} years",
                 unit="percent"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"start_value": 100, "end_value": 200, "years": 5},
            lambda r: abs(r["cagr_pct"] - 14.8698) < 1e-3 and abs(r["doubling_time_years"] - 5) < 1e-6,
        ),
        Example(
            {"start_value": 50, "end_value": 40, "years": 2},
            lambda r: r["cagr_pct"] < 0 and r["doubling_time_years"] is None,
        ),
    ],
)
def cagr(
    s: FinanceState,
    start_value: Annotated[float, Field(gt=0, description="Value at the start")],
    end_value: Annotated[float, Field(ge=0, description="Value at the end")],
    years: Annotated[float, Field(gt=0, le=1000, description="Years between them")],
) -> Growth:
    """Compound annual growth rate between a start and an end value over a number of years, with the total
    growth, the multiple and the doubling time at that rate."""
    multiple = end_value / start_value
    g = multiple ** (1 / years) - 1
    return Growth(
        cagr_pct=pct(g, 6),
        total_growth_pct=pct(multiple - 1, 6),
        growth_multiple=round(multiple, 10),
        doubling_time_years=round(math.log(2) / math.log(1 + g), 6) if g > 0 else None,
    )


class PercentChange(BaseModel):
    old_value: float
    new_value: float
    absolute_change: float
    percent_change: float
    ratio: float = Field(description="new / old")
    direction: Literal["increase", "decrease", "unchanged"]
    reverse_percent_change: float | None = Field(
        description="The percent change that would take new back to old (a 50% fall needs a 100% rise)"
    )


@DOMAIN.tool(
    meaning=Meaning(
        facts=(
            Fact("percent_change", "the percentage change from {old_value} to {new_value}", unit="percent"),
            Fact("ratio", "the ratio of {new_value} to {old_value}"),
        ),
    ),
    kind="processing",
    examples=[
        Example(
            {"old_value": 80, "new_value": 100},
            lambda r: r["percent_change"] == 25 and r["reverse_percent_change"] == -20,
        ),
        Example(
            {"old_value": 200, "new_value": 100},
            lambda r: (
                r["percent_change"] == -50 and r["reverse_percent_change"] == 100 and r["direction"] == "decrease"
            ),
        ),
    ],
)
def percentage_change(
    s: FinanceState,
    old_value: Annotated[float, Field(description="The starting value (not zero)")],
    new_value: Annotated[float, Field(description="The new value")],
) -> PercentChange:
    """The change from an old to a new value: absolute and percent change (relative to the old value's
    magnitude), the ratio, and the percent change needed to get back (a 50% fall needs a 100% rise)."""
    finite(old_value, "old_value")
    finite(new_value, "new_value")
    if old_value == 0:
        raise ToolFailure("old_value is 0, so a percent change is undefined; use the absolute change")
    change = (new_value - old_value) / abs(old_value)
    direction = "increase" if new_value > old_value else "decrease" if new_value < old_value else "unchanged"
    return PercentChange(
        old_value=old_value,
        new_value=new_value,
        absolute_change=round(new_value - old_value, 10),
        percent_change=round(100 * change, 6),
        ratio=round(new_value / old_value, 10),
        direction=direction,
        reverse_percent_change=round(100 * (old_value - new_value) / abs(new_value), 6) if new_value else None,
    )


class BreakEven(BaseModel):
    units: float = Field(description="Units to sell to cover fixed costs (and the target profit), exact")
    units_rounded_up: int
    revenue: float = Field(description="Sales revenue at that volume")
    contribution_margin_per_unit: float
    contribution_margin_ratio_pct: float


@DOMAIN.tool(
    meaning=no_facts("works on costs and prices the caller supplies; nothing in it comes from the world"),
    kind="processing",
    examples=[
        Example(
            {"fixed_costs": 10000, "price_per_unit": 50, "variable_cost_per_unit": 30},
            lambda r: r["units"] == 500 and r["revenue"] == 25000 and r["contribution_margin_ratio_pct"] == 40,
        ),
        Example(
            {"fixed_costs": 10000, "price_per_unit": 50, "variable_cost_per_unit": 30, "target_profit": 5000},
            lambda r: r["units"] == 750,
        ),
        Example(
            {"fixed_costs": 1000, "price_per_unit": 7, "variable_cost_per_unit": 4},
            lambda r: r["units_rounded_up"] == 334,
        ),
    ],
)
def break_even(
    s: FinanceState,
    fixed_costs: Annotated[float, Field(ge=0, description="Fixed costs for the period")],
    price_per_unit: Annotated[float, Field(gt=0, description="Selling price per unit")],
    variable_cost_per_unit: Annotated[float, Field(ge=0, description="Variable cost per unit")],
    target_profit: Annotated[float, Field(ge=0, description="Profit to reach on top of breaking even")] = 0.0,
) -> BreakEven:
    """Break-even volume: how many units must be sold (and the revenue) to cover fixed costs, or to reach a
    target profit, from the price and variable cost per unit."""
    margin = price_per_unit - variable_cost_per_unit
    if margin <= 0:
        raise ToolFailure(
            f"price_per_unit ({price_per_unit}) must exceed variable_cost_per_unit ({variable_cost_per_unit}); "
            "otherwise every sale loses money and there is no break-even"
        )
    units = (fixed_costs + target_profit) / margin
    return BreakEven(
        units=round(units, 6),
        units_rounded_up=math.ceil(round(units, 9)),
        revenue=money(units * price_per_unit),
        contribution_margin_per_unit=round(margin, 6),
        contribution_margin_ratio_pct=pct(margin / price_per_unit),
    )


class InflationAdjusted(BaseModel):
    amount: float
    adjusted_amount: float
    direction: str
    years: float
    cumulative_inflation_pct: float = Field(description="Price-level rise over the whole span")
    purchasing_power_ratio: float = Field(description="What 1 unit of money buys at the end, in start prices")
    average_annual_rate_pct: float


@DOMAIN.tool(
    meaning=no_facts("applies inflation rates the caller supplies to an amount the caller supplies"),
    kind="processing",
    examples=[
        Example(
            {"amount": 100, "annual_inflation_pct": 3, "years": 10, "direction": "future_cost"},
            lambda r: r["adjusted_amount"] == 134.39 and abs(r["cumulative_inflation_pct"] - 34.3916) < 1e-3,
        ),
        Example(
            {"amount": 100, "annual_inflation_pct": 3, "years": 10, "direction": "real_value"},
            lambda r: r["adjusted_amount"] == 74.41,
        ),
        Example(
            {"amount": 1000, "rates_by_year_pct": [2, 8, 5], "direction": "future_cost"},
            lambda r: r["adjusted_amount"] == 1156.68 and r["years"] == 3,
        ),
    ],
)
def inflation_adjust(
    s: FinanceState,
    amount: Annotated[float, Field(description="The sum of money")],
    direction: Annotated[
        Literal["future_cost", "real_value"],
        Field(
            description="future_cost: what something costing `amount` now will cost later; real_value: what `amount` "
            "received later is worth in today's money"
        ),
    ],
    annual_inflation_pct: Annotated[
        float | None, Field(ge=-50, le=1000, description="Constant yearly inflation, percent")
    ] = None,
    years: Annotated[float | None, Field(gt=0, le=500, description="Years (with annual_inflation_pct)")] = None,
    rates_by_year_pct: Annotated[
        list[float] | None,
        Field(
            min_length=1,
            max_length=500,
            description="Inflation of each year in turn, percent (instead of a constant rate)",
        ),
    ] = None,
) -> InflationAdjusted:
    """Adjust money for inflation: the future cost of today's price, or the real (today's money) value of a
    future sum, at a constant yearly rate or a list of yearly rates, with the cumulative inflation and
    the loss of purchasing power."""
    finite(amount, "amount")
    if rates_by_year_pct is not None:
        if annual_inflation_pct is not None or years is not None:
            raise ToolFailure("give rates_by_year_pct, or annual_inflation_pct with years, not both")
        factor = math.prod(1 + r / 100 for r in rates_by_year_pct)
        span = float(len(rates_by_year_pct))
    else:
        if annual_inflation_pct is None or years is None:
            raise ToolFailure("give annual_inflation_pct and years, or a list rates_by_year_pct")
        factor = (1 + annual_inflation_pct / 100) ** years
        span = years
    if factor <= 0:
        raise ToolFailure("those rates make prices fall to zero or below")
    adjusted = amount * factor if direction == "future_cost" else amount / factor
    return InflationAdjusted(
        amount=amount,
        adjusted_amount=money(adjusted),
        direction=direction,
        years=span,
        cumulative_inflation_pct=pct(factor - 1),
        purchasing_power_ratio=round(1 / factor, 8),
        average_annual_rate_pct=pct(factor ** (1 / span) - 1),
    )
