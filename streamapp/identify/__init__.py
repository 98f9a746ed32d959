"""Stage ② identify: ``events.identify`` -> ``events.identified``, re-keyed by canonical user id.

Pure core (no Faust, aiokafka or rocksdict imports). The stage's one table holds, per identify
partition, the identity bindings (:mod:`.binding`), the messageId dedupe entries (:mod:`.dedupe`)
and the replay fence's progress (:mod:`streamapp.state.fence`), under the keys of :mod:`.keys`.
:mod:`.resolve` decides where an event goes and whether it binds an anonymous id;
:mod:`.stage` runs dedupe then resolution for one record. Stitching state (profiles, counters)
is not touched here: a binding only sends a :class:`~.handoff.Handoff` to the profiles stage.
"""
