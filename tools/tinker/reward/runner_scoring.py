"""What both modes of the reward runner share: the static check of reward code, scores
read from what it returns, its errors as text, and the per-item alarm."""
import ast
import math
import numbers

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
