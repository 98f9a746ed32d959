"""Revenue per currency per hour: what the finance dashboard shows.

Keyed by ``properties.currency`` because sums across currencies mean nothing; in the Segment
e-commerce spec ``Order Completed`` carries ``revenue`` and ``currency`` at the top level, and
product ids only inside ``products[]``. Orders without a currency are skipped (counted as
``missing_key``); orders with a non-numeric revenue still count as orders.
"""

from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Max, Sum, Tumbling

revenue_per_currency_hourly = Aggregate(
    name="revenue_per_currency_hourly",
    events=("Order Completed",),
    key=("properties.currency",),
    window=Tumbling(size_s=3600),
    grace_s=120,
    measures=(
        Count(as_="orders"),
        Sum("properties.revenue"),
        Max("properties.revenue"),
        DistinctUsers(as_="buyers"),
    ),
)
