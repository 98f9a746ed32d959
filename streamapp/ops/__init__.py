"""Operator commands: look at and repair what the dataflow did, from outside a worker.

``streamapp dlq list``, ``streamapp dlq retry`` and ``streamapp trace <cid>`` read the topics a
deployment writes (``events.dlq``, ``streamapp.traces``, ``streamapp.dlq-retries``) with plain
Kafka clients; they never start a worker, join a consumer group or touch a table.

Pure parts (no aiokafka): :mod:`records` (the record value), :mod:`since` (``--since``),
:mod:`letters` (dead letters: parse, filter, format), :mod:`markers` (retry markers),
:mod:`retry_plan` (which letters go where), :mod:`trace_path` (an event's path).
Kafka edges: :mod:`kafka` (read a topic to its end, produce with acks=all), :mod:`dlq`
(``dlq list``), :mod:`retry` (``dlq retry``, with its exactly-once protocol), :mod:`trace`.
"""
