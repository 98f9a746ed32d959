"""Active users per platform over the last hour, refreshed every 15 minutes.

A hopping window: each event counts in the four one-hour windows that contain it, so every
quarter hour there is a fresh "users active in the past hour" per platform. The platform is the
Segment library that sent the call (``context.library.name``: ``analytics.js`` for web,
``analytics-ios``, ``analytics-android``, server libraries), which every Segment SDK sets;
``context.device.type`` would miss web traffic.
"""

from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Hopping, Key

active_users_per_platform = Aggregate(
    name="active_users_per_platform",
    key=(Key("context.library.name", as_="platform"),),
    window=Hopping(size_s=3600, step_s=900),
    grace_s=60,
    measures=(DistinctUsers(as_="active_users"), Count(as_="events")),
)
