"""Backfilling an aggregate: ``streamapp replay <aggregate> --from <ISO time | earliest>``.

After an aggregate is added to (or changed in) ``topologies/``, its new *version* (the hash of its
definition, :attr:`~streamapp.windows.declare.Aggregate.version`) has no history. A backfill
rebuilds it from a point of the retained input (``events.identified``) while live processing goes
on, without touching profiles, counters or any other aggregate, and without counting anything
twice. This docstring is the one place the protocol and its argument are written down.

The parts
    * The **control log** ``streamapp.backfills`` (:mod:`streamapp.replay.control`): one
      partition, never compacted, *the first record of each key wins*. Three kinds of keys per
      aggregate version: the *decision* (``backfill`` with its ``from``, or ``live``), one *cut*
      per partition of ``events.identified``, and *done*.
    * The **worker** (:mod:`streamapp.replay.gate`, used by :mod:`streamapp.windows.agent`).
    * The **command** (:mod:`streamapp.replay.run`): reads ``events.identified`` itself, runs the
      pure windows core (:class:`~streamapp.windows.combine.Combiner`) over the backfill range and
      hands the partials to the new version's owner through ``windows.<name>``.

The protocol
    1. The operator changes ``topologies/`` and runs ``streamapp replay <name> --from T``. It
       writes the decision ``backfill from T`` for the version in the file, unless a decision
       exists: a version that a worker already ran ``live`` is refused (its windows may already be
       on the sink; a backfill now would count twice), and a ``backfill`` decision is adopted
       (a rerun resumes; its recorded ``from`` is kept).
    2. The operator restarts the workers with the new ``topologies/``. A worker that runs a
       version with no decision writes ``live`` (so a fresh deployment just runs); with
       ``backfill`` the version's owner partitions start **holding**
       (:meth:`~streamapp.windows.state.PartitionWindows.hold`): they merge partials but close,
       emit and dead-letter nothing. ``GET /aggregates/<name>`` says ``"backfilling": true``.
       For a *changed* aggregate the worker also keeps the version it replaces running
       (:mod:`streamapp.replay.previous`): rebuilt from the definition its decision recorded,
       restored from its own table, fed by combine with every event (no cut: it never stopped
       being live), closing and emitting as before. It answers ``GET /aggregates/<name>``
       (``"serving": "previous"``) until the new version takes over (step 5).
    3. **The cut.** The combine agent sends an event of partition ``p`` of ``events.identified``
       at offset ``o`` to the new version only if ``o >= cut[p]``. ``cut[p]`` is taken once, by
       the first worker running the version that processes ``p``: the first offset of its first
       batch of ``p`` (an idle partition: its end offset, once the group's committed offset has
       reached it), written to the control log and read back (first wins) *before* any partial
       of ``p`` is sent to the new version.
    4. Once every partition has a cut, the command reads ``[offset_for_time(T), cut[p])`` of each
       partition (``earliest``: from the log start), skips what the combine agent skips (identify
       re-sent copies via a fresh :class:`~streamapp.state.fence.Fence`, hand-offs, merges,
       forwarded copies), combines the events and sends the partials to ``windows.<name>`` keyed
       like live partials, each contribution's origin topic marked ``#backfill``. A progress bar
       shows events done, events/s and the time left.
    5. After every partial is acknowledged it sends a **done-marker** (header
       ``streamapp-kind: backfill-done``, value = version) to every partition of
       ``windows.<name>``, then writes *done*. An owner partition that reads the marker of its
       version stops holding (:meth:`~streamapp.windows.state.PartitionWindows.release`) and from
       then on closes windows on the watermark as always: straddling windows hold both halves.
       From the same batch on, that partition *retires* the previous version: it no longer
       applies, closes, emits or serves it, and the new version answers (``"serving":
       "current"``). Combine stops computing the previous version's partials once it reads
       *done* on the control log (within seconds); the ones still in flight are dropped.

Why nothing is lost or counted twice
    * *Exact cut.* Per partition, the live path applies exactly the offsets ``>= cut[p]`` and the
      backfill exactly ``[start, cut[p])``: disjoint, and together all of ``[start, end)``. The
      cut is the first offset the version processed live because it is durable before the first
      partial of ``p`` goes out, and every later worker reads it back instead of taking its own.
      Records at or above the cut that are replayed after a crash are fenced as always.
    * *Two fence domains.* Backfilled contributions carry origin topic
      ``events.identified#backfill``, so the owner's per-window and per-partition fences track
      them apart from live ones: the lower backfill offsets are never mistaken for replays of the
      higher live ones, and a rerun of the command (after it was killed) re-sends partials in the
      same per-partition order, so every contribution already applied is fenced as a duplicate.
    * *Own version only.* Every partial carries the version that computed it (header
      ``streamapp-aggregate-version``) and an owner applies only its own: after a change, the
      partials the old version left unread on ``windows.<name>`` (computed by the old definition,
      from offsets below the cut) are skipped by the new one, which gets those events from the
      backfill instead. The previous version kept alongside applies exactly the old version's
      partials (those left unread included) and nothing else.
    * *Nothing closes early.* A holding partition closes nothing, so no backfilled event can be
      late; the done-marker follows every partial of every run of the command on the same
      partition of ``windows.<name>`` (one producer, acks=all, idempotent), so when an owner
      releases, every backfilled partial of its partition has been applied. A partition's
      ``holding`` flag is in its meta entry (changelog), so a worker killed mid-backfill restores
      it; the marker is consumed in order, so its effect survives a replay like any record.
    * *The previous version is not the version of record.* It only keeps answering (and
      emitting) what it always did; the new version never reads its partials or its table. Its
      late events are counted (``late_events{aggregate="<name>@previous"}``), not dead-lettered:
      the new version judges every event itself, so a DLQ re-drive cannot count one twice.
    * *Nobody else is touched.* The command writes only ``windows.<name>`` and the control log; the
      combine agent's fence, profiles, counters and every other aggregate never see a backfilled
      record.

What it does not guarantee (the operator's side of the contract)
    * **No mixed restarts.** Every worker must run the new ``topologies/`` once any of them does:
      an old worker processing a partition after the cut was taken would not send those events
      to the new version (they are above the cut, so the backfill does not read them either).
      Stop all old workers, then start the new ones. A worker running this code notices when it
      is the old one (:mod:`streamapp.replay.superseded`: every worker start appends a *start*
      record per aggregate version to the control log; a later start of another version
      supersedes it): it logs ``OUT OF DATE`` once a minute and sets
      ``streamapp_topology_superseded{aggregate=...}`` to 1, but goes on processing (refusing
      would not bring the lost events to the new version either); the operator stops it.
    * ``--from T`` picks offsets by Kafka record timestamp (``offsets_for_times``), not event time:
      the first windows are partial exactly as if the aggregate had started at ``T``. The records
      before the log start (retention) are gone: the range starts at the log start offset.
    * An identify copy whose original lies before the range's start is counted (the fresh fence
      never saw the original); with ``earliest`` there is none.
    * Lateness is judged only after the release: an event that was late in the original live run
      is counted by the backfill if its window was still open when the version released.
    * A holding partition keeps every window open until the release: memory and table size grow
      with the backfilled span (fine for days of hourly windows, not for a year of minutes).
    * While the new version holds, ``GET /aggregates/<name>`` answers from the previous version
      only if there is one that can be rebuilt: a newly added aggregate, a previous version
      decided before definitions were recorded, or one with another key (the request's key would
      mean something else) leave the new version's incomplete table answering, marked
      ``"backfilling": true``. A worker restarted after *done* but before its partitions read
      the marker does not keep the previous version either (same answer, for that moment).
    * Until the takeover the sink gets both versions' records (each with its own
      ``aggregate_version``); the record key makes the new version's windows upserts of the old.
"""
