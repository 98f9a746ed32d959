"""State: the cross-cutting primitives every stateful stage shares (the replay fence)."""
