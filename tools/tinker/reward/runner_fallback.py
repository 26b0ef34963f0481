"""Fallback mode (no OS sandbox): one job on stdin, one process per batch, behind an
audit hook that is not a security boundary."""
import json
import os
import resource
import signal
import sys

from runner_scoring import ItemTimeout, check_source, describe_error, on_alarm, to_score


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
