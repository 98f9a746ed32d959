"""Stage ⑤, windowed aggregates: declarations, window maths, combiner and per-partition state.

Pure: no Faust, aiokafka or rocksdict imports. The modules, in the order data meets them:
``declare`` (what users write in ``topologies/``), ``load`` (reading that folder), ``paths``
(resolving a declared field in an event), ``assign`` (which windows an event time falls in),
``combine`` (a source batch pre-aggregated into partials, one per aggregate key),
``accumulator`` (the mergeable measures) and ``state`` (the owning partition: merge, watermark,
late events, closing). The sink encoding lives in :mod:`streamapp.sink`.
"""
