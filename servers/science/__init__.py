"""Science (held out): unit conversion, chemistry on the world's element table, and physics calculators.

Units are pint's; constants are CODATA via SciPy; atomic masses and densities come from the world's
`elements` table (itself from the periodictable package), isotopes and radii from periodictable.
"""

from . import chemistry, numbers, physics  # noqa: F401  (registering their tools on DOMAIN)
from .domain import DOMAIN

__all__ = ["DOMAIN"]
