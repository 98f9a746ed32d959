"""Stage ③ profiles (with ④ counters in the same agent): ``events.identified`` -> state.

Pure core (no Faust, aiokafka or rocksdict imports). Per user key the stage keeps one
:class:`~.user_state.UserState` (profile + counters + the fence stamp) in one table; :mod:`.stage`
applies events, hand-offs and merges to it and says what to forward. :mod:`.profile` holds the
profile rules, :mod:`.traits` and :mod:`.known_ids` their order-independent pieces, :mod:`.messages`
the merge command and the record kinds of ``events.identified``. Identities are decided upstream
(:mod:`streamapp.identify`); this package never rebinds an id.

Values. Every function here returns new values and never changes its arguments, so a batch's
working copy, a merge snapshot and a tombstone can share maps without one changing another. The
values built once per event (``Profile``, ``LastEvent``, ``UserState``, ``Step`` and the counters'
``Counters``, ``NameCount``) are plain slotted dataclasses, not frozen ones: a frozen dataclass's
``__init__`` costs about 2 µs more for a dozen fields (measured: 2.5 µs against 0.45 µs), which is
most of the per-event cost of this stage. They are immutable by convention: never assign to a
field or change a map inside one; use :func:`dataclasses.replace` or the functions here. In-place
updates of a per-batch working copy would save about 2 µs more per event but let a snapshot and
the working copy alias; we chose values.
"""
