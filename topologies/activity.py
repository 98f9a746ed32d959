"""Events per name per minute: the live activity chart, and the first place a broken release shows.

Every call counts (``events`` is empty): track calls under their event name, page, screen,
identify, group and alias calls under their call type.
"""

from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Tumbling

events_per_minute = Aggregate(
    name="events_per_minute",
    key=("event",),
    window=Tumbling(size_s=60),
    grace_s=30,
    measures=(Count(as_="events"), DistinctUsers()),
)
