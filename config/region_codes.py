"""The region code scheme: the one place that knows how long a code is at each level.

Codes nest (national statistical division codes): city 4 digits, district 6, street 9, community 12,
and a grid adds 3 digits to its community (15). A region's descendants are exactly the codes that
start with its code, so scoping and drill-down are prefix matches, and, with grid codes read as
integers, any region's grids are one integer range. Everything else asks here (or asks `City`, which
asks here)."""

from __future__ import annotations

import numpy as np

LEVELS = ("city", "district", "street", "community", "grid")
CODE_LENGTH = {"city": 4, "district": 6, "street": 9, "community": 12, "grid": 15}
GRID_DIGITS = CODE_LENGTH["grid"]
_LEVEL_OF_LENGTH = {n: level for level, n in CODE_LENGTH.items()}


def level_of(code: str) -> str:
    """The level of a code by its length; ValueError for a length no level has."""
    try:
        return _LEVEL_OF_LENGTH[len(code)]
    except KeyError:
        raise ValueError(f"region code {code!r} has {len(code)} digits; levels have {sorted(_LEVEL_OF_LENGTH)}") \
            from None


def is_code(code: object) -> bool:
    """A string of digits whose length is a level's."""
    return isinstance(code, str) and code.isdigit() and len(code) in _LEVEL_OF_LENGTH


def parent_of(code: str) -> str | None:
    """The parent's code (None for the city)."""
    i = LEVELS.index(level_of(code))
    return code[:CODE_LENGTH[LEVELS[i - 1]]] if i else None


def at_level(code: str, level: str) -> str:
    """The code of the region at `level` that holds `code` (its first digits); `code` must be at or below it."""
    n = CODE_LENGTH[level]
    if len(code) < n:
        raise ValueError(f"region code {code!r} is above level {level!r}")
    return code[:n]


def child_level(code: str) -> str | None:
    """The level of a region's children (None for a grid)."""
    i = LEVELS.index(level_of(code))
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else None


def child_prefix_length(code: str) -> int | None:
    """How many digits a child of `code` has (None for a grid)."""
    level = child_level(code)
    return CODE_LENGTH[level] if level else None


def is_under(code: str, region: str) -> bool:
    """`code` is `region` or one of its descendants."""
    return code.startswith(region)


def grid_range(code: str) -> tuple[int, int]:
    """The grid codes under a region, read as integers, as the range [lo, hi)."""
    scale = 10 ** (GRID_DIGITS - len(code))
    return int(code) * scale, (int(code) + 1) * scale


def grid_key_at(grid_numbers: np.ndarray, level: str) -> np.ndarray:
    """Grid codes as integers -> the integer code of the region at `level` holding each."""
    return np.asarray(grid_numbers) // 10 ** (GRID_DIGITS - CODE_LENGTH[level])


def safety_code(code: str) -> str:
    """The region whose safety index applies: the safety index exists for the city, districts and
    streets; below a street, the street's applies."""
    return at_level(code, "street") if len(code) > CODE_LENGTH["street"] else code


def placeholder_grid(code: str) -> str:
    """A street's or community's code as a grid-length key (padded with zeros): an event a source places
    only at that level counts there and above, never in a grid (no real community or grid is numbered 000)."""
    return code.ljust(GRID_DIGITS, "0")
