"""Ingest: the first stage data meets, turning untrusted Segment JSON into typed events.

Pure core (no Faust, aiokafka, rocksdict or aiohttp imports): :mod:`.validate` decodes a record
of the ``events`` topic or checks an already-decoded object, :mod:`.http_request` parses a Segment
HTTP Tracking API request, and :mod:`.timestamps` reads and writes the ISO-8601 date-times both
use. Every function here returns a result or a rejection value; none raises for bad input. The
stage edge (:mod:`.agent`, reading ``events`` through :mod:`.reader`) and the aiohttp view own
the bytes, the clock and the dead-letter queue.
"""
