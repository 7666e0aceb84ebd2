"""Number-writing tools for measured values: significant figures and scientific/engineering notation."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Annotated, Literal

from dive.servers.kit import Example, ToolFailure, no_facts
from pydantic import BaseModel, Field

from .domain import DOMAIN, ScienceState

_SI_PREFIXES = {
    -24: "y",
    -21: "z",
    -18: "a",
    -15: "f",
    -12: "p",
    -9: "n",
    -6: "µ",
    -3: "m",
    0: "",
    3: "k",
    6: "M",
    9: "G",
    12: "T",
    15: "P",
    18: "E",
    21: "Z",
    24: "Y",
}


def _decimal(text: str) -> Decimal:
    raw = str(text).strip().replace("_", "").replace(",", "")
    try:
        value = Decimal(raw)
    except decimal.InvalidOperation:
        raise ToolFailure(f"{text!r} is not a number; write it like '0.004560', '1.2e5' or '-3500'") from None
    if not value.is_finite():
        raise ToolFailure("the value must be a finite number")
    return value


def count_sig_figs(text: str) -> tuple[int, bool]:
    """Significant figures written in `text`, and whether trailing zeros of an integer make the count ambiguous."""
    raw = str(text).strip().lstrip("+-").replace("_", "").replace(",", "")
    mantissa = raw.lower().split("e")[0]
    digits = mantissa.replace(".", "")
    stripped = digits.lstrip("0")
    if not stripped:
        return 1, False
    if "." in mantissa:
        return len(stripped), False
    trimmed = stripped.rstrip("0")
    return len(trimmed), len(trimmed) != len(stripped)


def round_sig(value: Decimal, figures: int, mode: str) -> Decimal:
    if value == 0:
        return Decimal(0).quantize(Decimal(1).scaleb(-(figures - 1)))
    exponent = value.adjusted() - figures + 1
    rounded = value.quantize(Decimal(1).scaleb(exponent), rounding=mode)
    if rounded.adjusted() != value.adjusted():  # 9.99 -> 10.0: one more digit, so re-quantize
        rounded = rounded.quantize(Decimal(1).scaleb(exponent + 1), rounding=mode)
    return rounded


def _plain(d: Decimal) -> str:
    """Positional notation keeping significant trailing zeros ('1.200', '1200')."""
    return format(d, "f")


class SigFigResult(BaseModel):
    input: str
    input_sig_figs: int = Field(description="Significant figures written in the input")
    input_ambiguous: bool = Field(
        description="True when trailing zeros of an integer (e.g. '1500') may or may not count"
    )
    sig_figs: int
    rounded: float
    rounded_text: str = Field(description="The rounded value keeping significant trailing zeros, e.g. '1.200'")
    scientific: str = Field(description="The rounded value in E notation, e.g. '1.200e+0'")
    ambiguous_in_plain_notation: bool = Field(
        description="True when rounded_text ends in zeros before the decimal "
        "point, so only the scientific form shows the precision"
    )


@DOMAIN.tool(
    meaning=no_facts("rounds a number the caller writes: formatting, not a fact"),
    kind="processing",
    examples=[
        Example(
            {"value": "0.004567", "sig_figs": 2}, lambda r: r["rounded_text"] == "0.0046" and r["input_sig_figs"] == 4
        ),
        Example(
            {"value": "1.19999", "sig_figs": 4},
            lambda r: r["rounded_text"] == "1.200" and r["scientific"] == "1.200e+0",
        ),
        Example(
            {"value": "123456", "sig_figs": 3}, lambda r: r["rounded"] == 123000 and r["ambiguous_in_plain_notation"]
        ),
        Example({"value": "2.5", "sig_figs": 1, "rounding": "half_even"}, lambda r: r["rounded_text"] == "2"),
    ],
)
def round_significant(
    s: ScienceState,
    value: Annotated[
        str,
        Field(
            description="The number as written (a string keeps trailing zeros: '0.004560', '1.20e3')",
            min_length=1,
            max_length=60,
        ),
    ],
    sig_figs: Annotated[int, Field(ge=1, le=30, description="Significant figures to keep")],
    rounding: Annotated[
        Literal["half_up", "half_even"],
        Field(description="Ties: half_up (2.5 -> 3) or half_even / banker's (2.5 -> 2)"),
    ] = "half_up",
) -> SigFigResult:
    """Round a number to a number of significant figures (exactly, in decimal), showing the result with its
    significant trailing zeros and in E notation, and count the significant figures of the input
    as written."""
    d = _decimal(value)
    count, ambiguous = count_sig_figs(value)
    rounded = round_sig(d, sig_figs, ROUND_HALF_UP if rounding == "half_up" else ROUND_HALF_EVEN)
    plain = _plain(rounded)
    digits = rounded.as_tuple().digits
    mantissa_digits = "".join(map(str, digits))[:sig_figs].ljust(sig_figs, "0")
    mantissa = mantissa_digits[0] + ("." + mantissa_digits[1:] if sig_figs > 1 else "")
    sign = "-" if rounded < 0 else ""
    sci = f"{sign}{mantissa}e{rounded.adjusted() if rounded != 0 else 0:+d}"
    return SigFigResult(
        input=value,
        input_sig_figs=count,
        input_ambiguous=ambiguous,
        sig_figs=sig_figs,
        rounded=float(rounded),
        rounded_text=plain,
        scientific=sci,
        ambiguous_in_plain_notation="." not in plain and plain.endswith("0") and plain.strip("-0") != "",
    )


class Notation(BaseModel):
    value: str
    mantissa: str
    exponent: int
    scientific: str = Field(description="'1.23 × 10^4'")
    e_notation: str = Field(description="'1.23e4'")
    engineering: str = Field(description="Exponent a multiple of 3: '12.3 × 10^3'")
    si_prefixed: str | None = Field(
        description="Engineering form with an SI prefix and the unit, e.g. '12.3 k' or '4.7 µF'"
    )


@DOMAIN.tool(
    meaning=no_facts("writes a number the caller supplies in other notations: formatting, not a fact"),
    kind="processing",
    examples=[
        Example(
            {"value": "12345", "sig_figs": 3},
            lambda r: (
                r["scientific"] == "1.23 × 10^4" and r["engineering"] == "12.3 × 10^3" and r["si_prefixed"] == "12.3 k"
            ),
        ),
        Example(
            {"value": "0.0000047", "unit": "F"}, lambda r: r["e_notation"] == "4.7e-6" and r["si_prefixed"] == "4.7 µF"
        ),
        Example({"value": "6.02214076e23"}, lambda r: r["exponent"] == 23 and r["mantissa"] == "6.02214076"),
    ],
)
def scientific_notation(
    s: ScienceState,
    value: Annotated[
        str, Field(description="The number: '12345', '0.0000047', '6.022e23'", min_length=1, max_length=60)
    ],
    sig_figs: Annotated[
        int | None,
        Field(
            ge=1, le=30, description="Round to this many significant figures first (default: keep every written digit)"
        ),
    ] = None,
    unit: Annotated[
        str, Field(description="Unit symbol to append to the SI-prefixed form ('F', 'Hz', 'm')", max_length=20)
    ] = "",
) -> Notation:
    """Write a number in scientific notation (mantissa × 10^exponent), E notation, engineering notation
    (exponent a multiple of 3) and with an SI prefix (k, M, µ, n...), optionally rounded to a number of
    significant figures first."""
    d = _decimal(value)
    if sig_figs is not None:
        d = round_sig(d, sig_figs, ROUND_HALF_UP)
    else:
        d = d.normalize() if d != 0 else Decimal(0)
    exponent = d.adjusted() if d != 0 else 0
    mantissa = d.scaleb(-exponent)
    mantissa_text = _plain(mantissa)
    eng_exp = exponent - exponent % 3
    eng = _plain(d.scaleb(-eng_exp))
    prefix = _SI_PREFIXES.get(eng_exp)
    return Notation(
        value=value,
        mantissa=mantissa_text,
        exponent=exponent,
        scientific=f"{mantissa_text} × 10^{exponent}",
        e_notation=f"{mantissa_text}e{exponent}",
        engineering=f"{eng} × 10^{eng_exp}",
        si_prefixed=f"{eng} {prefix}{unit}".rstrip() if prefix is not None else None,
    )
