"""Identifier check digits for generated inputs: CUSIP (mod-10 double-add-double), LEI (ISO 17442).

SPEC §2.1/§2.2 require valid CUSIP check digits and §2.5 valid LEI check digits (ISO 7064
MOD 97-10). The functions here work on whole NumPy arrays so 200,000 LEIs cost one pass per
character position, not one Python call per account.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE36 = np.frombuffer(_ALNUM.encode("ascii"), dtype=np.uint8)


def _char_value(char: str) -> int:
    """CUSIP/LEI value of one character: digits 0-9, letters A=10 … Z=35 (also `*@#` for CUSIP)."""
    if char.isdigit():
        return ord(char) - 48
    if "A" <= char <= "Z":
        return ord(char) - 55
    extra = {"*": 36, "@": 37, "#": 38}
    if char in extra:
        return extra[char]
    raise ValueError(f"character {char!r} is not allowed in a CUSIP or LEI")


def cusip_check_digit(base: str) -> str:
    """The ninth character of a CUSIP from its first eight (ANSI X9.6 "double-add-double")."""
    if len(base) != 8:
        raise ValueError(f"CUSIP base {base!r}: expected 8 characters, found {len(base)}")
    total = 0
    for position, char in enumerate(base):
        value = _char_value(char)
        # Every second character (1-based even positions) is doubled before its digits are added.
        if position % 2 == 1:
            value *= 2
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def _lei_remainder(chars: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """ISO 7064 MOD 97-10 remainder of rows of ASCII codes, one character column at a time."""
    remainder = np.zeros(chars.shape[0], dtype=np.int64)
    for column in range(chars.shape[1]):
        code = chars[:, column].astype(np.int64)
        is_digit = code < 65
        value = np.where(is_digit, code - 48, code - 55)
        # A letter stands for two decimal digits (A=10 … Z=35), a digit for one.
        remainder = np.where(is_digit, remainder * 10 + value, remainder * 100 + value) % 97
    return remainder


def lei_check_digits(bases: npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    """Two ISO 17442 check digits for each 18-character LEI base: 98 − (base·100 mod 97)."""
    chars = np.frombuffer(np.ascontiguousarray(bases).astype("S18").tobytes(), dtype=np.uint8)
    chars = chars.reshape(-1, 18)
    padded = np.concatenate([chars, np.full((chars.shape[0], 2), 48, dtype=np.uint8)], axis=1)
    check = 98 - _lei_remainder(padded)
    return np.char.zfill(check.astype(str), 2)


def base36(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.str_]:
    """Fixed-width base-36 text of non-negative integers (vectorised, most significant first)."""
    digits = np.empty((values.shape[0], width), dtype=np.uint8)
    rest = values.astype(np.int64).copy()
    for position in range(width - 1, -1, -1):
        digits[:, position] = _BASE36[rest % 36]
        rest //= 36
    return digits.view(f"S{width}").ravel().astype(f"U{width}")
