"""Summarise a py-spy ``--format raw`` (collapsed stacks) file: top functions by self and total %.

.venv/bin/python -m benchmarks.spy_summary profile.txt [--top 25] [--filter substring]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "lib/python3.11/", "wt-bench/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('func')} ({path})"


def summarise(path: str, top: int, filt: str | None) -> str:
    self_c: Counter[str] = Counter()
    total_c: Counter[str] = Counter()
    samples = 0
    with open(path, encoding="utf-8", errors="replace") as lines:
        text = lines.read().splitlines()
    for line in text:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if filt and filt not in stack:
            continue
        n = int(count)
        samples += n
        frames = [_name(f) for f in stack.split(";")]
        self_c[frames[-1]] += n
        for name in set(frames):
            total_c[name] += n
    out = [f"{samples} samples", "", "self %  function"]
    out += [f"{100 * c / samples:5.1f}  {f}" for f, c in self_c.most_common(top)]
    out += ["", "total % function"]
    out += [f"{100 * c / samples:5.1f}  {f}" for f, c in total_c.most_common(top)]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter")
    args = parser.parse_args()
    print(summarise(args.path, args.top, args.filter))


if __name__ == "__main__":
    main()
