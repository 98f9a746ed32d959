"""Stage ④ counters: per user and event name, a lifetime count and per-UTC-day counts.

Pure core (no Faust, aiokafka or rocksdict imports). :mod:`.counters` is the value and its rules
(add, merge, retention, queries); :mod:`.days` the UTC-day arithmetic. The value is kept inside
the profiles stage's per-user state (:mod:`streamapp.profiles.user_state`): every event touches
both, so one write per user per batch covers both and they can never be half-written.
"""
