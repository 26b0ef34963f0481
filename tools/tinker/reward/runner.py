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
"""
import ast
import json
import math
import numbers
import os
import resource
import select
import signal
import sys
import time

MAX_ERR = 300


def check_source(code):
    """Static checks: syntax, exactly one top-level `def compute_reward(completion, ground_truth)`."""
    try:
        tree = ast.parse(code)
    except SyntaxError as e:
        line = (e.text or "").strip()
        return "syntax error at line %s: %s%s" % (e.lineno, e.msg, (" -> " + line) if line else "")
    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "compute_reward"]
    if not defs:
        return "no top-level function `compute_reward(completion, ground_truth)` is defined"
    if len(defs) > 1:
        return "`compute_reward` is defined more than once; define it exactly once"
    fn = defs[0]
    if isinstance(fn, ast.AsyncFunctionDef):
        return "`compute_reward` must be a plain function, not `async def`"
    a = fn.args
    positional = list(a.posonlyargs) + list(a.args)
    required = len(positional) - len(a.defaults)
    if len(positional) < 2 and a.vararg is None:
        return "`compute_reward` must accept two positional arguments: (completion, ground_truth)"
    if required > 2:
        return "`compute_reward` requires more than two arguments; only (completion, ground_truth) are passed"
    kw_required = [k.arg for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is None]
    if kw_required:
        return "`compute_reward` has required keyword-only arguments (%s); only two positional ones are passed" % ", ".join(kw_required)
    return None


def safe_text(fn, fallback):
    """Text from user objects whose __str__, __repr__ or __name__ may raise."""
    try:
        s = fn()
        return s if isinstance(s, str) else fallback
    except BaseException:  # noqa: BLE001
        return fallback


def describe_error(e):
    kind = safe_text(lambda: type(e).__name__, "Exception")
    text = safe_text(lambda: str(e), "") or safe_text(lambda: repr(e), "(its message could not be read)")
    return ("%s: %s" % (kind, text))[:MAX_ERR]


def to_score(value):
    """(score, error) for whatever compute_reward returned."""
    if isinstance(value, bool):
        return float(value), None
    if not isinstance(value, numbers.Real):
        return 0.0, "returned %s, not a number" % safe_text(lambda: type(value).__name__, "an object")
    try:
        f = float(value)
    except BaseException as e:  # noqa: BLE001
        return 0.0, "returned a number that could not be read (%s)" % describe_error(e)
    if not math.isfinite(f):
        return 0.0, "returned %s, not a finite number" % ("nan" if f != f else ("inf" if f > 0 else "-inf"))
    return f, None


class ItemTimeout(BaseException):
    """BaseException, so a bare `except Exception` in user code cannot swallow it."""


def on_alarm(signum, frame):
    raise ItemTimeout()


# --------------------------------------------------------------------------- serve mode


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


# --------------------------------------------------------------------------- fallback mode


def install_audit_hook(workdir):
    """Refuses network, processes and writes outside `workdir`. Its state lives in this closure,
    out of reach of `sys.modules['__main__']`; it is still not a boundary (Python code can
    reach the OS in ways no audit event covers)."""
    real_workdir = os.path.realpath(workdir)
    blocked = frozenset({
        "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "socket.__new__",
        "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "os.kill", "os.killpg", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
        "os.putenv", "os.unsetenv", "os.remove", "os.rmdir", "os.rename", "os.symlink", "os.link", "os.chmod",
        "os.chown", "shutil.rmtree", "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
        "webbrowser.open", "sys.setprofile", "sys.settrace", "sys.addaudithook",
    })
    blocked_imports = frozenset({"_posixsubprocess", "_ctypes", "ctypes", "_socket", "socket", "subprocess", "multiprocessing", "pty"})
    path_events = frozenset({"os.mkdir", "os.truncate", "os.mkfifo", "os.mknod", "os.utime"})
    flags_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    violation = RuntimeError

    def outside(p):
        if isinstance(p, int):
            return False
        if isinstance(p, bytes):
            p = p.decode("utf-8", "replace")
        if not isinstance(p, str):
            return True
        real = os.path.realpath(p)
        return not (real == real_workdir or real.startswith(real_workdir + os.sep))

    def hook(event, args):
        if event in blocked:
            raise violation("blocked by the reward sandbox: %s" % event)
        if event == "import" and args and str(args[0]).split(".")[0] in blocked_imports:
            raise violation("blocked by the reward sandbox: import %s" % args[0])
        if event == "open":
            path, mode, flags = (list(args) + [None, None, None])[:3]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(flags, int):
                writing = writing or bool(flags & flags_write)
            if isinstance(mode, int):
                writing = writing or bool(mode & flags_write)
            if writing and outside(path):
                raise violation("blocked by the reward sandbox: writing %s" % path)
        if event in path_events and args and outside(args[0]):
            raise violation("blocked by the reward sandbox: %s outside the sandbox" % event)
        if event == "open" and isinstance(args[0], str) and args[0].startswith("/proc/"):
            raise violation("blocked by the reward sandbox: reading %s" % args[0])

    sys.addaudithook(hook)


def fallback():
    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def emit(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    code = job["code"]
    problem = check_source(code)
    if problem:
        emit({"type": "invalid", "error": problem})
        return
    if job.get("mode") == "check":
        emit({"type": "valid"})
        return

    mem = int(job.get("memory_bytes", 1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    cpu = int(job.get("cpu_seconds", 60))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (10 << 20, 10 << 20))
    signal.signal(signal.SIGALRM, on_alarm)
    item_timeout = float(job.get("item_timeout", 2.0))
    max_timeouts = int(job.get("max_timeouts", 3))

    install_audit_hook(os.getcwd())
    namespace = {"__name__": "reward_module"}
    try:
        signal.setitimer(signal.ITIMER_REAL, max(item_timeout * 3, 5.0))
        exec(compile(code, "grading_function.py", "exec"), namespace)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except BaseException as e:  # noqa: BLE001 - anything the module does is the user's problem
        signal.setitimer(signal.ITIMER_REAL, 0)
        emit({"type": "load_error", "error": "timeout while loading the module" if isinstance(e, ItemTimeout) else describe_error(e)})
        return
    fn = namespace.get("compute_reward")
    if not callable(fn):
        emit({"type": "load_error", "error": "compute_reward is not callable after running the module"})
        return

    timeouts = 0
    for i, item in enumerate(job["items"]):
        if timeouts >= max_timeouts:
            emit({"type": "score", "i": i, "score": 0.0, "error": "skipped: %d earlier items timed out" % timeouts})
            continue
        score, error = 0.0, None
        try:
            signal.setitimer(signal.ITIMER_REAL, item_timeout)
            value = fn(item["completion"], item["ground_truth"])
            signal.setitimer(signal.ITIMER_REAL, 0)
            score, error = to_score(value)
        except ItemTimeout:
            timeouts += 1
            error = "timed out after %.1fs" % item_timeout
        except MemoryError:
            signal.setitimer(signal.ITIMER_REAL, 0)
            error = "MemoryError: the reward exceeded its memory limit"
        except BaseException as e:  # noqa: BLE001
            signal.setitimer(signal.ITIMER_REAL, 0)
            error = describe_error(e)
        emit({"type": "score", "i": i, "score": score, "error": error})
    emit({"type": "done"})


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        fallback()
