"""A latency model of the Tinker service, for benchmarks only: off unless $TINKER_FAKE_TIMING
holds a JSON object (the bench sets it; tests never do, so they keep the fake's instant,
strict behaviour). README.md beside this package says where the numbers come from.

Sampling: each `sample` request (one prompt, `num_samples` completions decoded together)
waits for one of `sample_concurrency` slots, then takes prompt/prefill_tps seconds plus
its longest completion/decode_tps seconds. Completion lengths are long-tailed (log-normal
with `median_tokens` and `sigma`, capped at max_tokens), drawn from a hash of the prompt,
the sample index and how many times that prompt was sampled, so a run is repeatable.

Training: the training pool runs in clock cycles of `cycle_s` seconds from the client's
creation. An operation (forward_backward, forward, optim_step, saving weights for the
sampler) submitted during cycle c is taken at the start of cycle c+1 or later: after the
operations this client submitted before it, in order, and only while that cycle has
capacity left (`train_tokens_per_cycle`; an optimizer step or a save costs a fixed
`step_tokens`). Its result is ready at the end of the cycle that finishes it. An
operation submitted only after the previous one's result came back therefore misses a
cycle; operations submitted back to back share one.

Every request's submission and completion times go to $TINKER_FAKE_TIMING_LOG as JSON
lines, so a bench can tell time in the service from time in the harness (the call log,
$TINKER_FAKE_LOG, holds whole datums: too slow to write at benchmark sizes).
"""
import concurrent.futures
import hashlib
import json
import math
import os
import threading
import time

_DEFAULTS = {
    "cycle_s": 0.5,
    "train_tokens_per_cycle": 200_000,
    "step_tokens": 5_000,
    "sample_concurrency": 16,
    "prefill_tps": 200_000.0,
    "decode_tps": 500.0,
    "median_tokens": 120,
    "sigma": 1.0,
}


def _config():
    raw = os.environ.get("TINKER_FAKE_TIMING")
    if not raw:
        return None
    cfg = dict(_DEFAULTS)
    cfg.update(json.loads(raw))
    return cfg


CONFIG = _config()


def _log(kind, **fields):
    path = os.environ.get("TINKER_FAKE_TIMING_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"call": "timing", "kind": kind, **fields}) + "\n")


_uniform_counter = {}
_counter_lock = threading.Lock()


def completion_length(prompt_tokens, index, max_tokens):
    """A long-tailed completion length for sample `index` of this prompt (repeatable per run)."""
    key = tuple(prompt_tokens)
    with _counter_lock:
        draw = _uniform_counter.get((key, index), 0)
        _uniform_counter[(key, index)] = draw + 1
    h = hashlib.sha256(("%r|%d|%d" % (key, index, draw)).encode()).digest()
    u1 = (int.from_bytes(h[:8], "big") + 1) / (2**64 + 1)
    u2 = (int.from_bytes(h[8:16], "big") + 1) / (2**64 + 1)
    normal = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
    n = int(round(CONFIG["median_tokens"] * math.exp(CONFIG["sigma"] * normal)))
    return max(2, min(int(max_tokens or n), n))


_sample_pool = None
_pool_lock = threading.Lock()


def submit_sample(prompt_len, lengths, make_response):
    """A concurrent future for one sample request, resolved after its modelled latency."""
    global _sample_pool
    with _pool_lock:
        if _sample_pool is None:
            _sample_pool = concurrent.futures.ThreadPoolExecutor(max_workers=int(CONFIG["sample_concurrency"]), thread_name_prefix="fake-sampler")
    submitted = time.time()
    seconds = prompt_len / CONFIG["prefill_tps"] + max(lengths) / CONFIG["decode_tps"]

    def run():
        started = time.time()
        time.sleep(seconds)
        _log("sample", submitted=submitted, started=started, done=time.time(), tokens=sum(lengths))
        return make_response()

    return _sample_pool.submit(run)


class TrainClock:
    """One training client's place in the pool's clock cycles (see the module docstring)."""

    def __init__(self):
        self.t0 = time.time()
        self.lock = threading.Lock()
        self.last_cycle = -1
        self.used = 0

    def schedule(self, what, tokens):
        """The time the result of an operation submitted now is ready."""
        cap = CONFIG["train_tokens_per_cycle"]
        cycle_s = CONFIG["cycle_s"]
        with self.lock:
            now = time.time()
            c = max(int((now - self.t0) / cycle_s) + 1, self.last_cycle)
            if c != self.last_cycle:
                self.used = 0
            work = max(1, tokens)
            if self.used > 0 and self.used + work > cap:
                c, self.used = c + 1, 0
            # A batch larger than a cycle's capacity spans as many cycles as it fills.
            first = c
            c += (self.used + work - 1) // cap
            self.used = (self.used + work - 1) % cap + 1
            self.last_cycle = c
            ready = self.t0 + (c + 1) * cycle_s
        _log("train", op=what, submitted=now, first_cycle=first, cycle=c, done=ready, tokens=tokens)
        return ready


class DelayedFuture:
    """A training result that is ready at a set time: result() waits for it, as the SDK's does."""

    def __init__(self, ready_at, value=None, error=None, make=None):
        self._ready_at = ready_at
        self._value = value
        self._error = error
        self._make = make
        self._lock = threading.Lock()

    def result(self, timeout=None):
        with self._lock:
            if self._make is not None:
                self._value, self._make = self._make(), None
        wait = self._ready_at - time.time()
        if wait > 0:
            if timeout is not None and timeout < wait:
                time.sleep(timeout)
                raise concurrent.futures.TimeoutError()
            time.sleep(wait)
        if self._error is not None:
            raise self._error
        return self._value
