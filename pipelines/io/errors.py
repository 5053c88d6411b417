"""One-line descriptions of run failures for the operator, without personal data."""

from __future__ import annotations

import re

_ID_NUMBER = re.compile(r"\b(\d{6})\d{8}(\d{3}[\dXx])\b")


def mask_id_numbers(text: str) -> str:
    """Mask every 18-character ID number in a message to its first 6 and last 4 characters."""
    return _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)[-4:]}", text)


def describe_failure(error: BaseException) -> str:
    """``<ErrorType>: first line of the message``, ID numbers masked."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return mask_id_numbers(f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__)
