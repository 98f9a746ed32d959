"""The operator web UI at ``/ui``: overview, dead-letter browser with retry, trace, profiles.

:mod:`html` and :mod:`pages` are pure (values in, HTML out); :mod:`routes` is the aiohttp edge
that gathers the data and checks where a POST comes from.
"""
