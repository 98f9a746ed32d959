"""streamapp: Segment events in; identities, profiles, counters and windowed aggregates out."""

__version__ = "0.1.0"
