"""The worker caps glibc's malloc arenas unless the operator already chose a number."""

import os
import subprocess
import sys

import pytest

CHECK = "from streamapp import malloc_arenas; print(malloc_arenas.limit())"


def run(env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_cap_is_set_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    assert run(env) == "True"


def test_an_operators_malloc_arena_max_wins() -> None:
    assert run({**os.environ, "MALLOC_ARENA_MAX": "4"}) == "False"
