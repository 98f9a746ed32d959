"""Which version answers while a changed aggregate's new version is backfilled."""

from streamapp.events import JSONObject
from streamapp.replay.control import (
    ControlState,
    Decision,
    Mode,
    decision_key,
    decision_value,
    done_key,
    done_value,
)
from streamapp.replay.previous import previous_for
from streamapp.windows.declare import Aggregate, Count, DistinctUsers, Max, Sum, Tumbling

OLD = Aggregate(
    name="plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(), DistinctUsers()),
)
NEW = Aggregate(
    name="plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=10),
    grace_s=10,
    measures=(Count(), Sum("properties.price"), Max("properties.price"), DistinctUsers()),
)
NEWER = Aggregate(
    name="plan_counts",
    key=("properties.plan",),
    window=Tumbling(size_s=20),
    grace_s=10,
    measures=(Count(),),
)

Record = tuple[bytes | None, bytes | None]


def decided(agg: Aggregate, mode: Mode, *, definition: JSONObject | bool | None = True) -> Record:
    recorded = agg.definition() if definition is True else definition or None
    decision = Decision(mode, "earliest" if mode is Mode.BACKFILL else None)
    value = decision_value(decision, by="t", at_ms=1, definition=recorded)
    return decision_key(agg.name, agg.version), value


def done(agg: Aggregate) -> Record:
    return done_key(agg.name, agg.version), done_value(1, at_ms=2)


def test_the_live_old_version_answers_while_the_new_one_is_backfilled() -> None:
    state = ControlState.fold([decided(OLD, Mode.LIVE), decided(NEW, Mode.BACKFILL)])
    chosen = previous_for(state, NEW)
    assert chosen.aggregate is not None
    assert chosen.aggregate.version == OLD.version
    assert chosen.aggregate.definition() == OLD.definition()
    assert OLD.version in chosen.reason and NEW.version in chosen.reason


def test_nothing_is_kept_once_done_for_live_versions_or_new_aggregates() -> None:
    records = [decided(OLD, Mode.LIVE), decided(NEW, Mode.BACKFILL)]
    assert previous_for(ControlState.fold([*records, done(NEW)]), NEW).aggregate is None
    assert previous_for(ControlState.fold([decided(NEW, Mode.LIVE)]), NEW).aggregate is None
    assert previous_for(ControlState.fold([]), NEW).aggregate is None
    added = previous_for(ControlState.fold([decided(NEW, Mode.BACKFILL)]), NEW)
    assert added.aggregate is None and "newly added" in added.reason


def test_a_backfill_abandoned_before_done_is_skipped_for_the_last_complete_version() -> None:
    records = [decided(OLD, Mode.LIVE), decided(NEW, Mode.BACKFILL), decided(NEWER, Mode.BACKFILL)]
    chosen = previous_for(ControlState.fold(records), NEWER)
    assert chosen.aggregate is not None and chosen.aggregate.version == OLD.version
    chosen = previous_for(ControlState.fold([*records[:2], done(NEW), records[2]]), NEWER)
    assert chosen.aggregate is not None and chosen.aggregate.version == NEW.version


def test_versions_decided_later_do_not_count() -> None:
    # Reverting to a version decided before: it is not its own or a later version's successor.
    records = [decided(NEW, Mode.BACKFILL), decided(OLD, Mode.LIVE)]
    assert previous_for(ControlState.fold(records), NEW).aggregate is None


def test_an_old_version_without_a_usable_definition_is_not_kept() -> None:
    records = [decided(OLD, Mode.LIVE, definition=None), decided(NEW, Mode.BACKFILL)]
    chosen = previous_for(ControlState.fold(records), NEW)
    assert chosen.aggregate is None and "no definition" in chosen.reason
    other = NEWER.definition()
    records = [decided(OLD, Mode.LIVE, definition=other), decided(NEW, Mode.BACKFILL)]
    chosen = previous_for(ControlState.fold(records), NEW)
    assert chosen.aggregate is None and "cannot be rebuilt" in chosen.reason


def test_other_aggregates_do_not_count() -> None:
    other = Aggregate(
        name="other",
        key=("properties.plan",),
        window=Tumbling(size_s=10),
        grace_s=10,
        measures=(Count(),),
    )
    state = ControlState.fold([decided(other, Mode.LIVE), decided(NEW, Mode.BACKFILL)])
    assert previous_for(state, NEW).aggregate is None
