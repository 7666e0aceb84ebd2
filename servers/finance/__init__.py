"""Finance (held out): the world's monthly stock prices (five real tickers, 2000-2010) and pure calculators.

Market tools read `stock_prices`, `companies`, `products` and `orders` from the world database;
calculators (interest, loans, NPV, IRR, CAGR, break-even, inflation) work on the numbers they are given.
No network, no clock.
"""

from . import business, calculators, markets  # noqa: F401  (registering their tools on DOMAIN)
from .domain import DOMAIN

__all__ = ["DOMAIN"]
