"""CPU used by the processes of a benchmark, per thread role, over any window of the run (Linux ``/proc``).

Why: on a 2-core machine the stream benchmarks' workers share the CPU with the broker (and, on a shared
VM, with the host), so a throughput figure alone cannot say whether a worker was slow or the machine was
full. :class:`CpuSampler` reads every watched process's threads (``/proc/<pid>/task/*/stat``) a few times
a second; :meth:`CpuSampler.cores` then gives the cores each role used between two moments: ``main`` (a
worker's main thread: the Python work), ``librdkafka`` (threads named ``rdk:*``), ``other`` (the worker's
other threads: bronze writers) and ``broker`` (every thread of the broker process), plus ``steal``: CPU
the hypervisor gave to other guests while this machine wanted it (``/proc/stat``). Where ``/proc`` is
missing it samples nothing and :meth:`cores` returns None.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
ROLES = ("main", "librdkafka", "other", "broker")

#: one sample: (pid, tid) -> (role, CPU seconds so far)
Sample = dict[tuple[int, int], tuple[str, float]]


def thread_seconds(pid: int, broker: bool = False) -> Sample:
    """CPU seconds (user + system) so far of each live thread of one process, with its role."""
    found: Sample = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:  # the thread ended meanwhile
            continue
        if broker:
            role = "broker"
        else:
            role = "main" if tid == str(pid) else "librdkafka" if name.startswith("rdk:") else "other"
        found[(pid, int(tid))] = (role, (int(fields[11]) + int(fields[12])) / _TICK)
    return found


def steal_seconds() -> float:
    """CPU seconds stolen from this machine by the hypervisor so far, all CPUs (0 where not reported)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return 0.0
    return int(fields[8]) / _TICK if len(fields) > 8 else 0.0


class CpuSampler:
    """Samples the CPU seconds of ``workers`` and ``broker`` (pids) every ``every_s`` in a thread."""

    def __init__(self, workers: list[int], broker: int | None, every_s: float = 0.2) -> None:
        self._pids = [(pid, False) for pid in workers] + ([(broker, True)] if broker is not None else [])
        self._every_s = every_s
        self._times: list[float] = []
        self._samples: list[tuple[Sample, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self.available = os.path.isdir("/proc/self/task")

    def __enter__(self) -> CpuSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def sample(self) -> None:
        """Take one sample now (the thread does it every ``every_s``)."""
        threads: Sample = {}
        for pid, is_broker in self._pids:
            threads.update(thread_seconds(pid, is_broker))
        self._samples.append((threads, steal_seconds()))
        self._times.append(time.time())

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._every_s)

    def cores(self, start: float, end: float) -> dict[str, float] | None:
        """Cores used per role between the wall-clock times ``start`` and ``end`` (plus ``total`` and ``steal``).

        Taken between the samples nearest inside the window; a thread that started within it counts from
        zero, one that ended counts until its last sample. None without two samples in the window.
        """
        first = bisect_left(self._times, start)
        last = bisect_left(self._times, end) - 1
        if first >= last:
            return None
        span = self._times[last] - self._times[first]
        begin, steal_begin = self._samples[first]
        latest: Sample = {}
        for threads, _ in self._samples[first + 1 : last + 1]:
            latest.update(threads)
        used = dict.fromkeys(ROLES, 0.0)
        for key, (role, seconds) in latest.items():
            used[role] += seconds - begin.get(key, (role, 0.0))[1]
        cores = {role: value / span for role, value in used.items()}
        cores["total"] = sum(cores.values())
        cores["steal"] = (self._samples[last][1] - steal_begin) / span
        return {role: round(value, 3) for role, value in cores.items()}
