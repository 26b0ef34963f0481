"""Reward runner: scores completions with untrusted `compute_reward` code.

Two modes.

`--serve` (inside the OS sandbox): a persistent worker. Jobs arrive one JSON object a
line on stdin: {"id", "mode": "check"|"score", "code", "items": [{"completion",
"ground_truth"}], "item_timeout", "max_timeouts", "cpu_seconds"}. For each score job the
worker forks a child that loads the module and scores items; the child's records come
back over a pipe, the worker relays them (tagged with the job id) on a private copy of
the original stdout. An item that overruns its time, a child that dies, or anything left
running after a batch is killed by the worker, which carries on with the next item in a
fresh child. The sandbox (not this file) is the boundary; this file keeps the
bookkeeping honest against code that fights it.

No argument (the fallback where no OS sandbox exists): one job on stdin, one process per
batch, an audit hook refusing sockets, processes and writes outside the temp directory.
That hook is not a security boundary; results name it.

The runner's parts, beside this file: runner_scoring (checks and scores, both modes),
runner_serve and runner_reaper (serve mode), runner_fallback (the audit-hook fallback).
"""
import os
import sys

# The siblings are imported from this file's directory, which `-I` (the fallback's flag)
# leaves off sys.path; it is taken off again after, so reward code sees the sys.path it
# always saw. No bytecode of theirs is written into the checkout (-E and -I ignore
# PYTHONDONTWRITEBYTECODE); the setting is restored for reward code.
HERE = os.path.dirname(os.path.abspath(__file__))
ADDED = HERE not in sys.path
WROTE_BYTECODE = sys.dont_write_bytecode
sys.dont_write_bytecode = True
if ADDED:
    sys.path.insert(0, HERE)
from runner_fallback import fallback  # noqa: E402
from runner_serve import serve  # noqa: E402

if ADDED:
    sys.path.remove(HERE)
sys.dont_write_bytecode = WROTE_BYTECODE


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        fallback()
