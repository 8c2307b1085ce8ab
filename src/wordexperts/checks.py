"""Argument checks every layer shares: one wording for one rule.

A leaf of the package: no torch, no pandas, so the command line can use it before any
heavy import.
"""

from __future__ import annotations

import numbers

from .errors import ConfigError


def is_int(value: object) -> bool:
    """An integer (python or numpy), not a bool.

    Examples:
        >>> is_int(3), is_int(True), is_int(3.0)
        (True, False, False)
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)  # numpy's bool_ is not Integral


def check_positive_int(name: str, value: object, *, optional: bool = False) -> int | None:
    """``value`` as a python int >= 1 (``None`` allowed with ``optional=True``), or an error naming ``name``.

    The error is a :class:`~wordexperts.errors.ConfigError`, a ``ValueError``.

    Examples:
        >>> check_positive_int("epochs", 3)
        3
        >>> check_positive_int("epochs", 0)
        Traceback (most recent call last):
        ...
        wordexperts.errors.ConfigError: epochs must be a positive int, got 0
        >>> check_positive_int("max_size", None, optional=True) is None
        True
    """
    if value is None and optional:
        return None
    if not is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive int{' or None' if optional else ''}, got {value!r}")
    return int(value)
