"""The owner's dispatch of records on windows.<name> by version."""

import pytest

from streamapp.replay.control import BACKFILL_DONE
from streamapp.windows.route import TICK, Route, route

NEW, OLD, OTHER = b"new00000", b"old00000", b"other000"


@pytest.mark.parametrize(
    ("kind", "made_by", "previous", "expected"),
    [
        (TICK, None, OLD, Route.TICK),
        (BACKFILL_DONE, None, OLD, Route.MARKER),
        (None, NEW, OLD, Route.OWN),
        (None, None, OLD, Route.OWN),  # unversioned partials predate versions: the owner's
        (None, OLD, OLD, Route.PREVIOUS),
        (None, OLD, None, Route.FOREIGN),  # no previous kept (or retired on this partition)
        (None, OTHER, OLD, Route.FOREIGN),
    ],
)
def test_route(
    kind: bytes | None, made_by: bytes | None, previous: bytes | None, expected: Route
) -> None:
    assert route(kind, made_by, NEW, previous) is expected
