"""Serve mode's hold on processes: every process reward code starts stays a descendant of
the worker (subreaper), and all of them are killed and reaped after each batch."""
import os
import signal
import time


def become_subreaper():
    """Orphans of reward code are re-parented to this worker (not to the namespace's init),
    so every process reward code started stays a descendant we can find and kill."""
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def descendants(root):
    """Live processes below `root` (never `root` itself, never anything else)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == "Z":
            continue  # dead already; reaped below
        children.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], list(children.get(root, []))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def sweep():
    """Kills every process reward code started (the worker's descendants), then reaps.
    Only descendants: this is safe even where no PID namespace surrounds the worker."""
    me = os.getpid()
    for _ in range(50):
        reap()
        others = descendants(me)
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.001)


def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
