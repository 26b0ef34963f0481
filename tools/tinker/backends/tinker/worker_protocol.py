"""The Tinker worker's JSON-lines protocol on stdio (worker.py's docstring describes the
lines): the private copy of stdout the protocol writes to, reading requests, writing
results and errors, and the results that finish on a thread of their own.

Imported before the SDK: stdout is moved aside here, so anything the SDK prints goes to stderr.
"""
import json
import os
import sys
import threading
import traceback

OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def log(msg):
    sys.stderr.write("[tinker-worker] %s\n" % msg)
    sys.stderr.flush()



TRANSIENT = ("RateLimit", "Timeout", "Connection", "InternalServer", "ServiceUnavailable", "Overloaded")


class WorkerError(Exception):
    def __init__(self, kind, message, retryable=False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


class Streamed:
    """A result whose `field` is a list sent one element a line (`items` is an iterable);
    `rest` is the rest of the result, or a function that makes it once the items are sent;
    `on_error` undoes what a failure leaves behind."""

    def __init__(self, field, items, rest=None, on_error=None):
        self.field = field
        self.items = items
        self.rest = rest or {}
        self.on_error = on_error

    def rest_of(self):
        return self.rest() if callable(self.rest) else self.rest


class Later:
    """A result that is finished on a thread of its own (it waits on the service), so the
    worker goes on reading requests: a streamed step's next minibatch, the next sample."""

    def __init__(self, finish, on_error=None):
        self.finish = finish
        self.on_error = on_error


EMIT_LOCK = threading.Lock()


def emit(message):
    line = json.dumps(message) + "\n"
    with EMIT_LOCK:
        OUT.write(line)


def failure_line(rid, e):
    if isinstance(e, WorkerError):
        return error_line(rid, e.kind, str(e), e.retryable)
    log(traceback.format_exc())
    name = type(e).__name__
    return error_line(rid, name, str(e), any(t in name for t in TRANSIENT))


def finish_later(rid, result):
    """Sends a result that waits on the service: a streamed one item by item, then its last line."""
    try:
        if isinstance(result, Streamed):
            count = 0
            for item in result.items:
                emit({"id": rid, "item": item})
                count += 1
            emit({"id": rid, "ok": True, "result": result.rest_of(), "streamed": {"field": result.field, "count": count}})
        else:
            emit({"id": rid, "ok": True, "result": result.finish()})
    except Exception as e:  # noqa: BLE001 - every SDK failure goes back as data
        if result.on_error:
            result.on_error()
        emit(failure_line(rid, e))


def error_line(rid, kind, message, retryable=False):
    return {"id": rid, "ok": False, "error": {"type": kind, "message": message, "retryable": retryable}}


def read_request(line, lines):
    """A request and, when it streams a list parameter, that many item lines after it."""
    req = json.loads(line)
    items = req.get("items")
    if items:
        params = dict(req.get("params") or {})
        values = []
        for _ in range(int(items["count"])):
            item = json.loads(next(lines))
            if item.get("id") != req.get("id") or "item" not in item:
                raise ValueError("expected item %d of %d for request %s" % (len(values) + 1, items["count"], req.get("id")))
            values.append(item["item"])
        params[items["field"]] = values
        req["params"] = params
    return req
