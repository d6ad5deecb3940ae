"""The floor for a Python runner on this machine: the least per-step work any runner written in Python must do,
and nothing else. The bench runs it next to the real runner and the shell baseline on W1-W4.

    floor_loop.py PLAN.json SLOTS LOGDIR

PLAN.json lists the steps in recipe order: [{"argv": [...], "log": "name", "deps": [index, ...]}, ...].
Each step starts once its deps have ended, never more than SLOTS at once, with the runner's own mechanics:
its log opened by the loop with a header line, output straight into it, stdin from /dev/null, its own session,
started with os.posix_spawn, its end seen through a pidfd in one epoll, reaped with wait4, a footer line.
No events, no database, no console, no context, no checks: the difference between the runner and this loop is
what those cost; the difference between this loop and the shell baseline is Python and process start-up on
this machine. Exits 1 if a step fails.
"""
from __future__ import annotations

import heapq
import json
import os
import selectors
import signal
import sys


def main(plan_file: str, slots: int, log_dir: str) -> int:
    with open(plan_file, encoding="utf-8") as fh:
        steps = json.load(fh)
    waiting = [len(s["deps"]) for s in steps]
    dependents: list[list[int]] = [[] for _ in steps]
    for index, step in enumerate(steps):
        for dep in step["deps"]:
            dependents[dep].append(index)
    ready = [i for i, count in enumerate(waiting) if count == 0]  # a heap: recipe order breaks ties, as in the runner
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    env = dict(os.environ)
    selector = selectors.DefaultSelector()
    running = 0

    def start(index: int) -> None:
        step = steps[index]
        log = os.open(f"{log_dir}/{step['log']}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        os.write(log, f"===== attempt 1 of step {step['log']} started =====\n".encode())
        pid = os.posix_spawn(step["argv"][0], step["argv"], env, setsid=True, setsigdef=(signal.SIGPIPE,),
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, log, 1),
                                           (os.POSIX_SPAWN_DUP2, log, 2)])
        selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (index, pid, log))

    while ready or running:
        while ready and running < slots:
            start(heapq.heappop(ready))
            running += 1
        for key, _ in selector.select():
            index, pid, log = key.data
            _, status, _ = os.wait4(pid, 0)
            selector.unregister(key.fd)
            os.close(key.fd)
            code = os.waitstatus_to_exitcode(status)
            os.write(log, f"===== attempt 1 ended: exit {code} =====\n".encode())
            os.close(log)
            running -= 1
            if code != 0:
                print(f"floor_loop: step {steps[index]['log']} failed (exit {code})", file=sys.stderr)
                return 1
            for child in dependents[index]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, child)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
