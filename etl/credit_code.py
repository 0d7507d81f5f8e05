"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

An 18-character code: registration authority (1), organisation type (1), the
registration division (6, GB/T 2260), the organisation code (9, GB 11714, whose
last character is its own check character) and the code's check character.
Both check characters are verified. The same rules exist as plain Python (for
tests and small lookups) and as Spark Column expressions (for national scale).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # GB 11714 values 0..35
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"

# Problems, in the order they are checked; None means the code is valid.
MISSING, BAD_FORMAT, BAD_ORG_CHECK, BAD_CHECK = "missing", "bad_format", "bad_org_check", "bad_check"


def org_check_char(body: str) -> str:
    """GB 11714 check character of the 8-character organisation code body."""
    total = sum(ORG_ALPHABET.index(ch) * w for ch, w in zip(body, ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def check_char(first17: str) -> str:
    """GB 32100 check character of the first 17 characters."""
    total = sum(CHARSET.index(ch) * w for ch, w in zip(first17, WEIGHTS, strict=True))
    return CHARSET[(31 - total % 31) % 31]


def problem(code: str | None) -> str | None:
    import re

    if code is None or code == "":
        return MISSING
    if not re.match(PATTERN, code):
        return BAD_FORMAT
    if org_check_char(code[8:16]) != code[16]:
        return BAD_ORG_CHECK
    if check_char(code[:17]) != code[17]:
        return BAD_CHECK
    return None


def is_valid(code: str | None) -> bool:
    return problem(code) is None


def make(authority_and_type: str, division: str, org_body: str) -> str:
    """Assemble a valid code from its parts (e.g. '91', '440300', '19220382')."""
    first17 = authority_and_type + division + org_body + org_check_char(org_body)
    return first17 + check_char(first17)


# --- Column expressions ------------------------------------------------------------------------


def _char_at(code: Column, position: int) -> Column:
    return F.substring(code, position, 1)


def _value(alphabet: str, ch: Column) -> Column:
    return F.instr(F.lit(alphabet), ch) - 1


def org_check_char_col(body: Column) -> Column:
    total = sum(_value(ORG_ALPHABET, _char_at(body, i + 1)) * w for i, w in enumerate(ORG_WEIGHTS))
    value = F.lit(11) - F.pmod(total, F.lit(11))
    return F.when(value == 10, F.lit("X")).when(value == 11, F.lit("0")).otherwise(value.cast("string"))


def check_char_col(first17: Column) -> Column:
    total = sum(_value(CHARSET, _char_at(first17, i + 1)) * w for i, w in enumerate(WEIGHTS))
    return F.substring(F.lit(CHARSET), F.pmod(F.lit(31) - F.pmod(total, F.lit(31)), F.lit(31)) + 1, 1)


def make_col(authority_and_type: Column, division: Column, org_body: Column) -> Column:
    first17 = F.concat(authority_and_type, division, org_body, org_check_char_col(org_body))
    return F.concat(first17, check_char_col(first17))


def problem_col(code: Column) -> Column:
    """The first problem of each code (see MISSING...BAD_CHECK), or NULL when valid. Never NULL for NULL input."""
    return (
        F.when(code.isNull() | (code == ""), F.lit(MISSING))
        .when(~code.rlike(PATTERN), F.lit(BAD_FORMAT))
        .when(org_check_char_col(F.substring(code, 9, 8)) != _char_at(code, 17), F.lit(BAD_ORG_CHECK))
        .when(check_char_col(F.substring(code, 1, 17)) != _char_at(code, 18), F.lit(BAD_CHECK))
    )


def province_code_col(code: Column) -> Column:
    """Characters 3-4: the GB/T 2260 province of the registration division."""
    return F.substring(code, 3, 2)
