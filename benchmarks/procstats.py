"""CPU seconds and peak resident memory of the processes a system runs, sampled with psutil.

The broker is not counted (it serves every system alike); each system's own processes are, with
their children.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil


@dataclass
class ProcessSampler:
    """Samples RSS of some pids (and children) in a thread; reports CPU used since start."""

    pids: list[int]
    interval_s: float = 0.2
    peak_rss: dict[int, int] = field(default_factory=dict)
    _cpu0: dict[int, float] = field(default_factory=dict)
    _cpu_last: dict[int, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _procs(self) -> list[psutil.Process]:
        out: list[psutil.Process] = []
        for pid in self.pids:
            try:
                proc = psutil.Process(pid)
                out.append(proc)
                out.extend(proc.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return out

    def _sample(self) -> None:
        for proc in self._procs():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss = proc.memory_info().rss
            except psutil.NoSuchProcess:
                continue
            cpu = times.user + times.system
            self._cpu0.setdefault(proc.pid, cpu)
            self._cpu_last[proc.pid] = cpu
            self.peak_rss[proc.pid] = max(self.peak_rss.get(proc.pid, 0), rss)

    def start(self) -> None:
        """Take the first sample (CPU baseline) and keep sampling in the background."""
        self._sample()

        def loop() -> None:
            while not self._stop.wait(self.interval_s):
                self._sample()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def reset_cpu(self) -> None:
        """Make now the CPU baseline (e.g. once start-up is over)."""
        self._sample()
        self._cpu0 = dict(self._cpu_last)

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def cpu_s(self) -> float:
        """CPU seconds (user + system) used since the baseline by every sampled process."""
        return sum(self._cpu_last[pid] - self._cpu0.get(pid, 0.0) for pid in self._cpu_last)

    @property
    def peak_rss_mb(self) -> float:
        """The largest RSS any single process reached, MB."""
        return max(self.peak_rss.values(), default=0) / 1e6
