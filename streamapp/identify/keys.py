"""Key layout of the identify stage's table: the one place it is spelled.

One table holds bindings, dedupe entries and the fence's progress, so that a batch's writes all
go to one changelog partition in order (the fence's argument needs that). Prefixes keep an id and a
messageId that happen to be equal apart; the progress key (NUL prefix) can collide with neither.
"""

from __future__ import annotations

from typing import Final

BINDING_PREFIX: Final = "id:"
SEEN_PREFIX: Final = "msg:"


def binding_key(identity: str) -> str:
    """Return the table key of the binding of an anonymous id or alias ``previousId``."""
    return BINDING_PREFIX + identity


def seen_key(message_id: str) -> str:
    """Return the table key of the dedupe entry of ``message_id``."""
    return SEEN_PREFIX + message_id
