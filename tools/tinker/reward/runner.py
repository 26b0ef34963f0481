"""Reward sandbox runner: scores completions with untrusted `compute_reward` code.

Protocol: one JSON job on stdin {"mode": "check"|"score", "code": str,
"items": [{"completion": str, "ground_truth": str}], "item_timeout": float}.
Results go, one JSON object per line, to a private copy of the original stdout
descriptor; the user's code sees stdout and stderr redirected, so its prints cannot
corrupt the protocol. Standard library only.
"""
import ast
import json
import math
import os
import resource
import signal
import sys

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


class SandboxViolation(RuntimeError):
    pass


BLOCKED_EVENTS = {
    "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "pty.spawn", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata",
    "os.putenv", "os.unsetenv", "os.remove", "os.rmdir", "os.rename", "os.symlink", "os.link", "os.chmod",
    "os.chown", "shutil.rmtree", "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
    "webbrowser.open", "sys.setprofile", "sys.settrace",
}


def install_audit_hook(workdir):
    real_workdir = os.path.realpath(workdir)

    def hook(event, args):
        if event in BLOCKED_EVENTS:
            raise SandboxViolation("blocked by the reward sandbox: %s" % event)
        if event == "open":
            path, mode = args[0], args[1]
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            if isinstance(mode, int):
                writing = bool(mode & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
            if writing and isinstance(path, (str, bytes)):
                p = os.path.realpath(path if isinstance(path, str) else path.decode("utf-8", "replace"))
                if not (p == real_workdir or p.startswith(real_workdir + os.sep)):
                    raise SandboxViolation("blocked by the reward sandbox: writing %s" % p)

    sys.addaudithook(hook)


class ItemTimeout(BaseException):
    """BaseException, so a bare `except Exception` in user code cannot swallow it."""


def on_alarm(signum, frame):
    raise ItemTimeout()


def main():
    job = json.loads(sys.stdin.read())
    # The protocol channel: a private duplicate of stdout. User prints go to stderr.
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
        kind = "timeout" if isinstance(e, ItemTimeout) else type(e).__name__
        emit({"type": "load_error", "error": ("%s: %s" % (kind, e))[:MAX_ERR]})
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
            if isinstance(value, bool):
                value = float(value)
            if not isinstance(value, (int, float)):
                error = "returned %s, not a number" % type(value).__name__
            elif not math.isfinite(float(value)):
                error = "returned %r, not a finite number" % value
            else:
                score = float(value)
        except ItemTimeout:
            timeouts += 1
            error = "timed out after %.1fs" % item_timeout
        except MemoryError:
            signal.setitimer(signal.ITIMER_REAL, 0)
            error = "MemoryError: the reward exceeded its memory limit"
        except BaseException as e:  # noqa: BLE001
            signal.setitimer(signal.ITIMER_REAL, 0)
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                error = "%s raised" % type(e).__name__
            else:
                error = ("%s: %s" % (type(e).__name__, e))[:MAX_ERR]
        emit({"type": "score", "i": i, "score": score, "error": error})
    emit({"type": "done"})


if __name__ == "__main__":
    main()
