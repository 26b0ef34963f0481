"""Serve mode (inside the OS sandbox): the persistent worker's job loop, one forked child
per run of items (runner.py's docstring describes the protocol)."""
import json
import os
import resource
import select
import signal
import sys
import time

from runner_reaper import become_subreaper, sweep
from runner_scoring import ItemTimeout, check_source, describe_error, on_alarm, to_score


def child_score(job, start, w):
    """In a forked child: load the module, score items from `start`, one record a line on fd `w`."""
    jid = job.get("id")

    def emit(obj, tag=b"R"):
        # One write per record, unbuffered: a record written is a record the worker has.
        # "<tag> <item> <timed out 0|1> <json>": the worker relays the json without parsing it.
        obj["id"] = jid
        timed_out = b"1" if isinstance(obj.get("error"), str) and obj["error"].startswith("timed out") else b"0"
        head = b"%s %d %s " % (tag, obj.get("i", -1), timed_out)
        os.write(w, head + json.dumps(obj).encode("utf-8", "replace") + b"\n")

    cpu = int(job.get("cpu_seconds", 60))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    item_timeout = float(job.get("item_timeout", 2.0))
    signal.signal(signal.SIGALRM, on_alarm)
    namespace = {"__name__": "reward_module"}
    try:
        signal.setitimer(signal.ITIMER_REAL, max(item_timeout * 3, 5.0))
        exec(compile(job["code"], "grading_function.py", "exec"), namespace)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as e:  # noqa: BLE001
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"type": "load_error", "error": "timeout while loading the module" if isinstance(e, ItemTimeout) else describe_error(e)}, b"E")
        return
    fn = namespace.get("compute_reward")
    if not callable(fn):
        emit({"type": "load_error", "error": "compute_reward is not callable after running the module"}, b"E")
        return
    items = job["items"]
    emit({"type": "loaded"}, b"L")
    for i in range(start, len(items)):
        score, error = 0.0, None
        try:
            signal.setitimer(signal.ITIMER_REAL, item_timeout)
            value = fn(items[i]["completion"], items[i]["ground_truth"])
            signal.setitimer(signal.ITIMER_REAL, 0)
            score, error = to_score(value)
        except ItemTimeout:
            error = "timed out after %.1fs" % item_timeout
        except MemoryError:
            signal.setitimer(signal.ITIMER_REAL, 0)
            error = "MemoryError: the reward exceeded its memory limit"
        except BaseException as e:  # noqa: BLE001
            signal.setitimer(signal.ITIMER_REAL, 0)
            error = describe_error(e)
        emit({"type": "score", "i": i, "score": score, "error": error}, b"S")


def serve_job(job, emit_many, relay, private_fds):
    jid = job.get("id")

    def send(obj):
        obj["id"] = jid
        emit_many([obj])

    problem = check_source(job.get("code", ""))
    if problem:
        send({"type": "invalid", "error": problem})
        return
    if job.get("mode") == "check":
        send({"type": "valid"})
        return
    items = job["items"]
    item_timeout = float(job.get("item_timeout", 2.0))
    max_timeouts = int(job.get("max_timeouts", 3))
    # The child's own alarm ends an item; this wait is the backstop for code that blocks the alarm.
    grace = item_timeout + 1.0
    load_grace = max(item_timeout * 3, 5.0) + 1.0
    timeouts = 0
    i = 0
    while i < len(items):
        if timeouts >= max_timeouts:
            for k in range(i, len(items)):
                send({"type": "score", "i": k, "score": 0.0, "error": "skipped: %d earlier items timed out" % timeouts})
            break
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            # Reward code must not read later jobs or write into the protocol.
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            for fd in private_fds:
                os.close(fd)
            code = 0
            try:
                child_score(job, i, w)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        buf = b""
        loaded = False
        deadline = time.monotonic() + load_grace
        ended = None  # why this child stopped early, or None when it finished the batch
        out = []
        while True:
            left = deadline - time.monotonic()
            ready = select.select([r], [], [], max(0.0, left))[0] if left > 0 else []
            if not ready:
                ended = "timeout"
                break
            chunk = os.read(r, 1 << 16)
            if not chunk:
                ended = "exit" if i < len(items) else None
                break
            lines = (buf + chunk).split(b"\n")
            buf = lines.pop()
            for line in lines:
                parts = line.split(b" ", 3)
                if len(parts) != 4:
                    continue
                tag = parts[0]
                if tag == b"L":
                    loaded = True
                elif tag == b"S" and parts[1] == str(i).encode():
                    timeouts += parts[2] == b"1"
                    out.append(parts[3])
                    i += 1
                    if timeouts >= max_timeouts:
                        ended = "limit"
                        break
                elif tag == b"E":
                    out.append(parts[3])
                    ended = "load_error"
                    break
            if out:
                relay(out)
                out = []
            # Item i starts when item i-1 was reported: its clock starts now.
            deadline = time.monotonic() + (grace if loaded else load_grace)
            if i >= len(items) or ended is not None:
                break
        os.close(r)
        # Whatever the batch left behind (the child, its children, orphans holding pipes) goes now.
        sweep()
        if ended == "load_error":
            return
        if ended == "timeout":
            timeouts += 1
            send({"type": "score", "i": i, "score": 0.0, "error": "timed out after %.1fs (stopped by the sandbox)" % item_timeout if loaded else "timed out while loading the reward module"})
            if not loaded:
                # The module itself hangs: every item would.
                for k in range(i + 1, len(items)):
                    send({"type": "score", "i": k, "score": 0.0, "error": "skipped: the reward module did not load in time"})
                break
            i += 1
        elif ended == "exit":
            send({"type": "score", "i": i, "score": 0.0, "error": "the reward process died while scoring this item (killed, exited, or out of memory/CPU)"})
            i += 1
    send({"type": "done"})


def serve():
    proto_fd = os.dup(1)
    # User code (and its children) print to stderr, never into the protocol.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    become_subreaper()

    def emit_many(objs):
        relay([json.dumps(o).encode("utf-8") for o in objs])

    def relay(lines):
        data = b"\n".join(lines) + b"\n"
        while data:
            data = data[os.write(proto_fd, data):]

    emit_many([{"type": "ready", "pid": os.getpid()}])
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except ValueError:
            continue
        try:
            serve_job(job, emit_many, relay, [proto_fd])
        except BaseException as e:  # noqa: BLE001
            emit_many([{"type": "failed", "id": job.get("id"), "error": describe_error(e)}])
