"""Tinker backend worker: the official `tinker` SDK and the cookbook's renderers behind
a JSON-lines protocol on stdio (tools/tinker/backends/tinker/wire.ts describes it).

Lines in:  {"id", "method", "params", "items"?: {"field", "count"}} then `count` lines
           {"id", "item"}: a list parameter one element a line.
Lines out: {"id", "item"} lines, then {"id", "ok": true, "result", "streamed"?: {"field",
           "count"}} or {"id", "ok": false, "error": {"type", "message", "retryable"}}.
Logs go to stderr only; stdout is reserved for the protocol (anything the SDK prints is
redirected to stderr).

Sampled tokens and log-probs never leave this process: each completion is kept under a
rollout id (RolloutStore) and a policy step names ids and advantages. The session
(training client, tokenizer, renderer, base model) is replaced as a whole, and only once
every step of open or load_state has succeeded: a failure leaves the previous session
as it was.
"""
import concurrent.futures
import json
import math
import os
import secrets
import sys
import threading
import time
import traceback
from array import array
from collections import deque

OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
sys.stdout = sys.stderr


def log(msg):
    sys.stderr.write("[tinker-worker] %s\n" % msg)
    sys.stderr.flush()


try:
    import tinker
    from tinker import types
    from tinker_cookbook import model_info, renderers
    IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - reported to the client as a structured error
    IMPORT_ERROR = "%s: %s" % (type(e).__name__, e)

TRANSIENT = ("RateLimit", "Timeout", "Connection", "InternalServer", "ServiceUnavailable", "Overloaded")
# Sequences a policy step re-reads after the update to measure how far it moved (a forward
# pass submitted right behind the optimizer step, so it lands on the step's clock cycle).
KL_PROBE_SEQUENCES = 16
TIMEOUTS = {"open": 1800, "sample": 600, "train_supervised": 900, "eval_supervised": 900, "train_policy": 900, "save_state": 1500, "load_state": 1500, "delete_state": 600}
# Tokens of a GRPO sample call whose policy datums are built as their groups arrive (beyond
# it, at the step: a 16k-token batch kept as SDK objects would take gigabytes).
PREPARED_TOKENS = 1_500_000
# AdamParams fields a request may set; the rest keep the SDK's defaults (eps 1e-12, no weight decay, no clipping).
ADAM_FIELDS = ("learning_rate", "beta1", "beta2", "eps", "weight_decay", "grad_clip_norm")
# The server's summed loss, used when a server-side filter drops the per-token log-probs.
LOSS_SUM = "loss:sum"


class WorkerError(Exception):
    def __init__(self, kind, message, retryable=False):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable


def resolve(future, timeout):
    """Waits for an SDK future (APIFuture or concurrent future) with a timeout; other values pass through."""
    if hasattr(future, "result") and callable(future.result):
        return future.result(timeout=timeout)
    return future


def with_retries(fn, what, attempts=3):
    for attempt in range(attempts):
        try:
            return fn()
        except WorkerError:
            raise
        except Exception as e:  # noqa: BLE001
            name = type(e).__name__
            if attempt + 1 < attempts and any(t in name for t in TRANSIENT):
                wait = 2 ** attempt
                log("%s failed with %s (%s); retrying in %ss" % (what, name, e, wait))
                time.sleep(wait)
                continue
            raise


def floats(tensor_like):
    """TensorData, torch.Tensor or list -> list of Python floats."""
    if hasattr(tensor_like, "tolist"):
        return [float(x) for x in tensor_like.tolist()]
    return [float(x) for x in tensor_like]


def ints(values):
    """Token ids as Python ints (ModelInput refuses floats and arrays)."""
    return [int(x) for x in values]


def recommended_renderer(base_model):
    try:
        return model_info.get_recommended_renderer_name(base_model)
    except Exception as e:  # noqa: BLE001 - the cookbook raises AttributeError, KeyError, ValueError or ConfigurationError
        raise WorkerError("unknown_model", "the cookbook has no renderer for %r (%s: %s); use a model `tinkerloop models` lists" % (base_model, type(e).__name__, e))


class Rollout:
    """What a sampled completion leaves here for a policy step (compact arrays: a 16k-token
    GRPO batch is a million tokens and as many log-probs)."""

    __slots__ = ("prompt", "tokens", "logprobs", "parts")

    def __init__(self, prompt, tokens, logprobs):
        self.prompt = prompt
        self.tokens = array("q", tokens)
        self.logprobs = array("d", logprobs)
        # The policy datum's parts that do not depend on the advantage, built while the rest
        # of the batch is still sampling (see Worker.prepare); None: built at the step.
        self.parts = None


class RolloutStore:
    """Rollouts by id `<store>-<batch>-<index>` (the same form as tools/tinker/rollouts.ts),
    each batch tagged with the weights version that sampled it. By default a batch lives
    until the next sample call, training step, open, load or close: never longer than the
    weights that produced it. A sample call that asks to keep its batch for `keep` steps
    (off-policy overlap) leaves the earlier batches alone, and its batch survives `keep`
    optimizer steps; a policy step names how stale a rollout it accepts. A rollout trains
    once. Guarded by a lock: samples arrive on their own threads while steps take rollouts."""

    def __init__(self):
        self.store = secrets.token_hex(3)
        self.batch = 0
        self.batches = {}
        self.sizes = {}
        self.why = {}
        self.lock = threading.Lock()

    def new_batch(self, version, keep=0):
        """A new batch sampled with weights `version`; without `keep`, it replaces the others."""
        with self.lock:
            if keep <= 0:
                self._drop_all("a later sample call replaced them")
            self.batch += 1
            self.batches[self.batch] = {"version": version, "keep": keep, "kept": {}}
            return self.batch

    def add(self, batch, rollout):
        with self.lock:
            index = self.sizes.get(batch, 0)
            self.sizes[batch] = index + 1
            rid = "%s-%d-%d" % (self.store, batch, index)
            b = self.batches.get(batch)
            # A batch dropped while it was being sampled still issues ids: they are refused with the reason.
            if b is not None:
                b["kept"][rid] = rollout
            return rid

    def _drop_all(self, reason):
        for n in list(self.batches):
            self._drop(n, reason)

    def _drop(self, n, reason):
        self.why[n] = reason
        del self.batches[n]

    def drop(self, reason, batch=None):
        with self.lock:
            if batch is None:
                self._drop_all(reason)
            elif batch in self.batches:
                self._drop(batch, reason)

    def stepped(self, version):
        """After an optimizer step to `version`: batches staler than they asked to be kept go."""
        with self.lock:
            for n, b in list(self.batches.items()):
                if version - b["version"] > b["keep"]:
                    self._drop(n, "a training step changed the weights")

    def take(self, ids, version, max_stale=0, consume=True):
        """The kept rollouts for `ids`, in order, with each one's staleness (steps since it was
        sampled), refused past `max_stale`; they leave their batch. With `consume` (a whole
        policy step) every batch not kept for overlap is dropped too, failed or not, as the
        step changes the weights; otherwise the rest stay (a minibatch of a streamed step)."""
        with self.lock:
            try:
                seen, out = set(), []
                for rid in ids:
                    if rid in seen:
                        raise WorkerError("bad_rollout", "rollout %s is listed twice in one policy step" % rid)
                    seen.add(rid)
                    batch = self._batch_of(rid)
                    b = self.batches.get(batch) if batch is not None else None
                    if b is None or rid not in b["kept"]:
                        raise self.refusal(rid)
                    stale = version - b["version"]
                    if stale > max_stale:
                        raise WorkerError("stale_rollout", "rollout %s is stale: it was sampled %d optimizer steps ago and this step accepts at most %d (max_steps_off_policy). Sample again and train on the new ids." % (rid, stale, max_stale))
                    out.append((b["kept"][rid], stale))
                # A rollout trains once, whether or not the rest of its batch stays.
                for rid in ids:
                    del self.batches[self._batch_of(rid)]["kept"][rid]
                return out
            finally:
                if consume:
                    # A failed step consumes the batches too; one kept for overlap lives by its staleness.
                    for n, b in list(self.batches.items()):
                        if b["keep"] <= 0:
                            self._drop(n, "a training step changed the weights")

    def _batch_of(self, rid):
        parts = rid.split("-") if isinstance(rid, str) else []
        if len(parts) == 3 and parts[0] == self.store and parts[1].isdigit() and parts[2].isdigit():
            return int(parts[1])
        return None

    def refusal(self, rid):
        parts = rid.split("-") if isinstance(rid, str) else []
        ok = len(parts) == 3 and len(parts[0]) == 6 and parts[1].isdigit() and parts[2].isdigit()
        store, batch, index = (parts[0], int(parts[1]), int(parts[2])) if ok else (None, 0, 0)
        if store == self.store and batch in self.batches and index < self.sizes.get(batch, 0):
            return WorkerError("stale_rollout", "rollout %s is stale: a policy step already trained on it (a rollout trains once). Train on ids not used yet, or sample again." % rid)
        if store == self.store and batch in self.why and index < self.sizes.get(batch, 0):
            why = self.why[batch]
            return WorkerError("stale_rollout", "rollout %s is stale: rollouts are kept only until the next sample call or training step, and its batch was dropped (%s). Sample again and train on the new ids." % (rid, why))
        if store is not None and store != self.store:
            return WorkerError("stale_rollout", "rollout %s is stale: it was sampled by another worker process, which has since gone. Sample again and train on the new ids." % rid)
        return WorkerError("unknown_rollout", "unknown rollout id %s: policy steps take the rollout ids that sample returned" % json.dumps(rid))


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


def usage(prefill=0, cached_prefill=0, sampled=0, trained=0):
    """Tokens one operation processed, by the meters the service bills (prefill, cached
    prefill, sampled, trained); an evaluation's forward pass is prefill."""
    return {"prefill": prefill, "cached_prefill": cached_prefill, "sampled": sampled, "trained": trained}


def input_tokens(datums):
    return sum(int(d.model_input.length) for d in datums)


class Session:
    """One open model: never half-built (see the module docstring)."""

    def __init__(self, training, base_model, rank, renderer_name):
        tokenizer = training.get_tokenizer()
        self.training = training
        self.base_model = base_model
        self.rank = rank
        self.tokenizer = tokenizer
        self.renderer_name = renderer_name
        self.renderer = renderers.get_renderer(renderer_name, tokenizer)
        self.stops = list(self.renderer.get_stop_sequences())
        self.token_stops = bool(self.stops) and all(isinstance(s, int) for s in self.stops)

    def card(self):
        shown = [self.tokenizer.decode([s]) if isinstance(s, int) else s for s in self.stops]
        return {"base_model": self.base_model, "renderer": self.renderer_name, "stop": shown, "lora_rank": self.rank}

    def prompt_input(self, prompt):
        return self.renderer.build_generation_prompt([{"role": "user", "content": prompt}])

    def text_of(self, tokens):
        try:
            message, _termination = self.renderer.parse_response(tokens)
        except Exception as e:  # noqa: BLE001 - e.g. two stop tokens in one completion
            raise WorkerError("bad_sample", "the renderer could not parse a completion (%s: %s)" % (type(e).__name__, e))
        return renderers.get_text_content(message)

    def closed_text(self, tokens):
        """The text of a completion cut after `tokens`, as if the turn had ended there."""
        end = [self.stops[0]] if self.token_stops else ints(self.tokenizer.encode(self.stops[0], add_special_tokens=False)) if self.stops else []
        closed = tokens if end and tokens[-len(end):] == end else tokens + end
        try:
            message, _termination = self.renderer.parse_response(closed)
        except Exception:  # noqa: BLE001
            return ""
        return renderers.get_text_content(message)

    def cut_at_user_stop(self, tokens, logprobs, text, user_stops):
        """Applies the caller's stop strings the way a sampler would have: the completion
        ends at the first one in its text, which is cut before it, and keeps only the
        tokens up to the one that completed it. Returns None when no stop occurs."""
        hits = [(text.find(s), s) for s in user_stops if text.find(s) >= 0]
        if not hits:
            return None
        at, stop = min(hits)
        # The shortest token prefix whose text already holds the stop (text grows with the prefix).
        lo, hi = 1, len(tokens)
        if stop in self.closed_text(tokens[:hi]):
            while lo < hi:
                mid = (lo + hi) // 2
                if stop in self.closed_text(tokens[:mid]):
                    hi = mid
                else:
                    lo = mid + 1
        keep = hi
        return tokens[:keep], logprobs[:keep], text[:at]


class Later:
    """A result that is finished on a thread of its own (it waits on the service), so the
    worker goes on reading requests: a streamed step's next minibatch, the next sample."""

    def __init__(self, finish, on_error=None):
        self.finish = finish
        self.on_error = on_error


class Worker:
    def __init__(self):
        self.service = None
        self.session = None
        # The weights version: optimizer steps since the session was opened or loaded.
        self.version = 0
        # (version, sampling client or a future of one).
        self.sampler = None
        self.rollouts = RolloutStore()
        # Datums of the streamed forward-backward passes since the last optimizer step (the KL probe reads a few).
        self.step_datums = []
        # "with_step": fb, optimizer step and the KL probe are submitted back to back, and the next
        # sampler's weights are saved right after them (all on one clock cycle); "serial": each waits
        # for the one before (the loop before issue 33, kept as the bench's anchor).
        self.schedule = "with_step"

    def weights_changed(self, reason):
        """The sampler and every kept rollout belong to the old weights."""
        self.sampler = None
        self.version += 1
        self.step_datums = []
        self.rollouts.drop(reason)

    def stepped(self, s):
        """An optimizer step was submitted: a new weights version; the next sampler is saved
        now, behind the step (a background thread: the SDK's call blocks until it is saved)."""
        self.version += 1
        self.step_datums = []
        self.rollouts.stepped(self.version)
        self.sampler = None
        if self.schedule == "with_step":
            pending = concurrent.futures.Future()
            version = self.version

            def save():
                try:
                    pending.set_result(with_retries(lambda: s.training.save_weights_and_get_sampling_client(), "save_weights_and_get_sampling_client"))
                except Exception as e:  # noqa: BLE001 - the sample call that needs it reports it
                    pending.set_exception(e)

            threading.Thread(target=save, daemon=True).start()
            self.sampler = (version, pending)

    def need(self):
        if self.session is None:
            raise WorkerError("no_session", "no model is open in the Tinker worker; call open first")
        return self.session

    def service_client(self):
        self.service = self.service or tinker.ServiceClient()
        return self.service

    def sampling_client(self, s):
        if self.sampler is not None and self.sampler[0] == self.version:
            client = self.sampler[1]
            if isinstance(client, concurrent.futures.Future):
                try:
                    client = client.result(timeout=TIMEOUTS["open"])
                except Exception:  # noqa: BLE001 - saved again below
                    client = None
            if client is not None:
                self.sampler = (self.version, client)
                return client
        client = with_retries(lambda: s.training.save_weights_and_get_sampling_client(), "save_weights_and_get_sampling_client")
        self.sampler = (self.version, client)
        return client

    def supervised_datums(self, s, examples):
        datums = []
        for ex in examples:
            messages = [{"role": "user", "content": ex["prompt"]}, {"role": "assistant", "content": ex["response"]}]
            model_input, weights = s.renderer.build_supervised_example(messages)
            tokens = ints(model_input.to_ints())
            w = floats(weights)
            if len(tokens) < 2 or len(tokens) != len(w):
                raise WorkerError("bad_example", "an example rendered to %d tokens and %d weights" % (len(tokens), len(w)))
            datums.append(types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={"target_tokens": tokens[1:], "weights": w[1:]},
            ))
        return datums

    @staticmethod
    def per_token_logprobs(output):
        """Each datum's learner log-probs, or None when the service sent none back."""
        outs = [o.get("logprobs") if hasattr(o, "get") else None for o in output.loss_fn_outputs]
        if len(outs) == 0 or any(o is None for o in outs):
            return None
        return [floats(o) for o in outs]

    def weighted_nll(self, datums, output, what):
        weight = sum(sum(floats(d.loss_fn_inputs["weights"])) for d in datums)
        lps = self.per_token_logprobs(output)
        if lps is not None:
            total = sum(-sum(lp * w for lp, w in zip(lp_row, floats(d.loss_fn_inputs["weights"]))) for d, lp_row in zip(datums, lps))
        elif LOSS_SUM in (output.metrics or {}):
            total = float(output.metrics[LOSS_SUM])
        else:
            raise WorkerError("no_logprobs", "the service returned neither per-token log-probs nor a %s metric for %s, so its loss cannot be read%s" % (LOSS_SUM, what, " (the optimizer step was applied)" if what == "train_supervised" else ""))
        return (total / weight if weight > 0 else 0.0), int(weight)

    def adam(self, p):
        given = {k: float(p[k]) for k in ADAM_FIELDS if p.get(k) is not None}
        if "learning_rate" not in given:
            raise WorkerError("bad_request", "a training step needs learning_rate")
        return types.AdamParams(**given)

    # --- methods -------------------------------------------------------------
    def open(self, p):
        base_model = p["base_model"]
        rank = int(p.get("rank", 32))
        renderer_name = p.get("renderer") or recommended_renderer(base_model)
        service = self.service_client()
        training = resolve(with_retries(lambda: service.create_lora_training_client(base_model=base_model, rank=rank), "create_lora_training_client"), TIMEOUTS["open"])
        self.session = Session(training, base_model, rank, renderer_name)
        self.weights_changed("the model was opened or loaded again")
        if p.get("schedule") in ("with_step", "serial"):
            self.schedule = p["schedule"]
        return self.session.card()

    def sample(self, p):
        """Submits every prompt at once. With `as_completed`, each group is sent as soon as its
        completions are back, as {"index": prompt index, "group": [...]} (rewards can start on
        it); otherwise the groups go in prompt order. `keep` (off-policy overlap) keeps the
        batch for that many optimizer steps and leaves earlier batches alone."""
        s = self.need()
        user_stops = [x for x in (p.get("stop") or []) if isinstance(x, str) and x]
        # Token-id stops cannot be mixed with strings in one SamplingParams: the renderer's
        # stop goes to the sampler and the caller's strings are applied to the text here.
        stop = list(s.stops) if s.token_stops else list(dict.fromkeys(list(s.stops) + user_stops))
        params = types.SamplingParams(max_tokens=int(p["max_tokens"]), temperature=float(p["temperature"]), stop=stop, seed=p.get("seed"))
        keep = max(0, int(p.get("keep") or 0))
        as_completed = bool(p.get("as_completed"))
        client = self.sampling_client(s)
        version = self.version
        batch = self.rollouts.new_batch(version, keep)
        inputs = [s.prompt_input(text) for text in p["prompts"]]
        n = int(p["n"])
        # Every request is in flight at once; each response is let go as soon as its group is kept and sent.
        pending = deque((k, mi, client.sample(prompt=mi, num_samples=n, sampling_params=params)) for k, mi in enumerate(inputs))
        used = usage()
        # Only a GRPO batch (as_completed) will be trained on; a plain sample (the sample tool) is read, not trained.
        budget = [PREPARED_TOKENS if as_completed else 0]

        def in_order():
            while pending:
                _k, mi, fut = pending.popleft()
                yield self.sampled_group(s, batch, ints(mi.to_ints()), fut, user_stops, n, used, budget)

        def by_completion():
            waiting = {fut: (k, mi) for k, mi, fut in pending}
            pending.clear()
            deadline = time.time() + TIMEOUTS["sample"]
            while waiting:
                done, _rest = concurrent.futures.wait(list(waiting), timeout=max(0.0, deadline - time.time()), return_when=concurrent.futures.FIRST_COMPLETED)
                if not done:
                    raise WorkerError("timeout", "sampling did not finish within %ss" % TIMEOUTS["sample"], retryable=True)
                for fut in sorted(done, key=lambda f: waiting[f][0]):
                    k, mi = waiting.pop(fut)
                    yield {"index": k, "group": self.sampled_group(s, batch, ints(mi.to_ints()), fut, user_stops, n, used, budget)}

        def dropped():
            self.rollouts.drop("the sample call that made them failed", batch)

        return Streamed("groups", by_completion() if as_completed else in_order(), lambda: {"usage": used, "version": version}, on_error=dropped)

    def sampled_group(self, s, batch, prompt, fut, user_stops, n, used, budget):
        """One prompt's completions, kept here; what crosses the pipe is ids, texts, finish
        reasons and counts. `used` gains the tokens the request was billed for: the prompt
        once (its prefix-cache hits at the cached rate), the other n-1 samples' shared
        prompt as cache hits (the SDK's SampleResponse.prompt_cache_hit_tokens), and every
        sampled token, a caller's stop string notwithstanding."""
        resp = resolve(fut, TIMEOUTS["sample"])
        hit = min(len(prompt), int(getattr(resp, "prompt_cache_hit_tokens", 0) or 0))
        used["prefill"] += len(prompt) - hit
        used["cached_prefill"] += hit + (n - 1) * len(prompt)
        group = []
        for seq in resp.sequences:
            tokens = ints(seq.tokens)
            used["sampled"] += len(tokens)
            if seq.logprobs is None or len(seq.logprobs) != len(tokens):
                raise WorkerError("bad_sample", "the sampler returned %s logprobs for %d tokens" % ("no" if seq.logprobs is None else len(seq.logprobs), len(tokens)))
            logprobs = [float(x) for x in seq.logprobs]
            text = s.text_of(tokens)
            finish = "stop" if seq.stop_reason == "stop" else "length"
            cut = s.cut_at_user_stop(tokens, logprobs, text, user_stops) if user_stops else None
            if cut is not None:
                tokens, logprobs, text = cut
                finish = "stop"
            rollout = Rollout(prompt, tokens, logprobs)
            if budget[0] >= len(prompt) + len(tokens) and tokens:
                budget[0] -= len(prompt) + len(tokens)
                rollout.parts = self.prepare(rollout)
            rid = self.rollouts.add(batch, rollout)
            group.append({"id": rid, "text": text, "finish_reason": finish, "tokens": len(tokens)})
        return group

    def train_supervised(self, p):
        s = self.need()
        datums = self.supervised_datums(s, p["examples"])
        fb = s.training.forward_backward(datums, loss_fn="cross_entropy")
        opt = s.training.optim_step(self.adam(p))
        self.weights_changed("a training step changed the weights")
        out = resolve(fb, TIMEOUTS["train_supervised"])
        resolve(opt, TIMEOUTS["train_supervised"])
        loss, tokens = self.weighted_nll(datums, out, "train_supervised")
        return {"loss": loss, "tokens": tokens, "usage": usage(trained=input_tokens(datums))}

    def eval_supervised(self, p):
        s = self.need()
        datums = self.supervised_datums(s, p["examples"])
        out = resolve(s.training.forward(datums, loss_fn="cross_entropy"), TIMEOUTS["eval_supervised"])
        loss, tokens = self.weighted_nll(datums, out, "eval_supervised")
        return {"loss": loss, "tokens": tokens, "usage": usage(prefill=input_tokens(datums))}

    @staticmethod
    def prepare(k):
        """The importance-sampling datum's input and its target and old log-prob rows: the
        prompt (less its last token) padded with zeros, then the completion."""
        prompt, toks, lps = list(k.prompt), list(k.tokens), list(k.logprobs)
        pad = len(prompt) - 1
        return (
            types.ModelInput.from_ints(prompt + toks[:-1]),
            types.TensorData(data=[0] * pad + toks, dtype="int64"),
            types.TensorData(data=[0.0] * pad + lps, dtype="float32"),
        )

    def policy_datums(self, chosen, kept):
        datums, spans = [], []
        for r, (k, _stale) in zip(chosen, kept):
            if len(k.tokens) < 1:
                raise WorkerError("bad_rollout", "rollout %s has no tokens" % r["id"])
            model_input, targets, old = k.parts or self.prepare(k)
            pad = len(k.prompt) - 1
            adv = float(r["advantage"])
            datums.append(types.Datum(
                model_input=model_input,
                loss_fn_inputs={"target_tokens": targets, "logprobs": old, "advantages": [0.0] * pad + [adv] * len(k.tokens)},
            ))
            spans.append((pad, k.logprobs, adv))
        return datums, spans

    @staticmethod
    def staleness(kept):
        stale = [st for _k, st in kept]
        return {"max": max(stale) if stale else 0, "mean": sum(stale) / len(stale) if stale else 0.0}

    def policy_figures(self, spans, out, count):
        """Loss and KL (sampler vs learner before the step) from a forward-backward's output."""
        learner = self.per_token_logprobs(out)
        if learner is None:
            # A server-side filter dropped the per-token outputs: no KL; the summed loss if the service sent it.
            loss_sum = (out.metrics or {}).get(LOSS_SUM)
            return {"loss": None if loss_sum is None else float(loss_sum) / max(1, count), "kl": None, "kl_squared": None}
        diffs, objective = [], 0.0
        for (pad, old, adv), row in zip(spans, learner):
            for a, b in zip(old, row[pad:pad + len(old)]):
                diffs.append(a - b)
                objective += math.exp(b - a) * adv
        n = max(1, len(diffs))
        return {"loss": -objective / max(1, count), "kl": sum(diffs) / n, "kl_squared": sum(0.5 * d * d for d in diffs) / n}

    def submit_probe(self, s, taken, used):
        """The KL probe's forward pass over the first few of the step's sequences (`taken`:
        (datum, span, forward-backward future, row) each). Submitted right behind the
        optimizer step, it lands on the step's clock cycle (requests run in order, so it
        reads the updated weights) and costs no cycle of its own."""
        probe = taken[:KL_PROBE_SEQUENCES]
        datums = [d for d, _span, _fb, _row in probe]
        used["prefill"] += input_tokens(datums)
        return (s.training.forward(datums, loss_fn="importance_sampling"), probe)

    def read_probe(self, probe):
        """How far this step moved the policy: mean(learner before the step - learner after) log-prob
        over the probe's completion tokens (None when the service sends no per-token outputs).
        The learner before the step is what its forward-backward read, so the figure is the
        step's own move even when the rollouts were sampled steps earlier (off-policy overlap),
        where sampler minus learner after would add the lag; on-policy the two agree."""
        fut, taken = probe
        after = self.per_token_logprobs(resolve(fut, TIMEOUTS["train_policy"]))
        if after is None:
            return None
        diffs, read = [], {}
        for (_d, (pad, old, _adv), fb, row), now in zip(taken, after):
            if id(fb) not in read:
                read[id(fb)] = self.per_token_logprobs(resolve(fb, TIMEOUTS["train_policy"]))
            before = read[id(fb)]
            if before is None:
                return None
            diffs.extend(b - a for b, a in zip(before[row][pad:pad + len(old)], now[pad:pad + len(old)]))
        return sum(diffs) / len(diffs) if diffs else None

    def train_policy(self, p):
        """One whole policy step: forward-backward on the rollouts, the optimizer step and the
        KL probe, submitted together."""
        s = self.need()
        chosen = p["rollouts"]
        kept = self.rollouts.take([r.get("id") for r in chosen], self.version, int(p.get("max_steps_off_policy") or 0))
        datums, spans = self.policy_datums(chosen, kept)
        count = sum(len(old) for _pad, old, _adv in spans)
        used = usage(trained=input_tokens(datums))
        fb = s.training.forward_backward(datums, loss_fn="importance_sampling")
        if self.schedule == "serial":
            opt = s.training.optim_step(self.adam(p))
            self.stepped(s)
            out = resolve(fb, TIMEOUTS["train_policy"])
            resolve(opt, TIMEOUTS["train_policy"])
            figures = self.policy_figures(spans, out, count)
            taken = [(d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans))]
            kl_after = self.read_probe(self.submit_probe(s, taken, used)) if figures["kl"] is not None else None
            return {**figures, "kl_after": kl_after, "tokens": count, "usage": used, "staleness": self.staleness(kept), "version": self.version}
        opt = s.training.optim_step(self.adam(p))
        probe = self.submit_probe(s, [(d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans))], used)
        self.stepped(s)
        version = self.version

        def finish():
            out = resolve(fb, TIMEOUTS["train_policy"])
            resolve(opt, TIMEOUTS["train_policy"])
            figures = self.policy_figures(spans, out, count)
            kl_after = self.read_probe(probe) if figures["kl"] is not None else None
            return {**figures, "kl_after": kl_after, "tokens": count, "usage": used, "staleness": self.staleness(kept), "version": version}

        return Later(finish)

    def forward_backward(self, p):
        """One minibatch of a streamed policy step: forward-backward on these rollouts (they
        leave their batch; the rest stay), no optimizer step. Answers once the service has."""
        s = self.need()
        chosen = p["rollouts"]
        kept = self.rollouts.take([r.get("id") for r in chosen], self.version, int(p.get("max_steps_off_policy") or 0), consume=False)
        datums, spans = self.policy_datums(chosen, kept)
        count = sum(len(old) for _pad, old, _adv in spans)
        fb = s.training.forward_backward(datums, loss_fn="importance_sampling")
        self.step_datums.extend((d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans)))
        version = self.version

        def finish():
            figures = self.policy_figures(spans, resolve(fb, TIMEOUTS["train_policy"]), count)
            return {**figures, "tokens": count, "usage": usage(trained=input_tokens(datums)), "staleness": self.staleness(kept), "version": version}

        return Later(finish)

    def optim_step(self, p):
        """The optimizer step after a streamed step's minibatches, with the KL probe behind it
        on the same cycle (over the first minibatch's sequences)."""
        s = self.need()
        if not self.step_datums:
            raise WorkerError("bad_request", "optim_step needs a forward_backward since the last optimizer step")
        taken = self.step_datums
        opt = s.training.optim_step(self.adam(p))
        used = usage()
        probe = self.submit_probe(s, taken, used) if p.get("kl_probe", True) else None
        self.stepped(s)
        version = self.version

        def finish():
            resolve(opt, TIMEOUTS["train_policy"])
            return {"kl_after": self.read_probe(probe) if probe else None, "usage": used, "version": version}

        return Later(finish)

    def save_state(self, p):
        s = self.need()
        res = resolve(with_retries(lambda: s.training.save_state(p["name"]), "save_state"), TIMEOUTS["save_state"])
        path = getattr(res, "path", None) or getattr(res, "checkpoint_path", None)
        if not path:
            raise WorkerError("bad_response", "save_state returned no path")
        return {"path": path}

    def load_state(self, p):
        path = p["path"]
        service = self.service_client()
        # The checkpoint says which model it was made from; the caller's expectation (its
        # session, or its own record of the checkpoint) must agree before anything loads.
        info = resolve(with_retries(lambda: service.create_rest_client().get_weights_info_by_tinker_path(path), "get_weights_info_by_tinker_path"), TIMEOUTS["load_state"])
        made_from = info.base_model
        expected = p.get("base_model") or (self.session.base_model if self.session else None)
        if expected and made_from != expected:
            raise WorkerError("wrong_base_model", "checkpoint %s was made from %s, but this session trains %s; refusing to load it" % (path, made_from, expected))
        if self.session is not None:
            resolve(self.session.training.load_state_with_optimizer(path), TIMEOUTS["load_state"])
        else:
            renderer_name = p.get("renderer") or recommended_renderer(made_from)
            # 0.25 returns the TrainingClient itself; older SDKs returned a future (resolve accepts both).
            training = resolve(with_retries(lambda: service.create_training_client_from_state_with_optimizer(path), "create_training_client_from_state_with_optimizer"), TIMEOUTS["load_state"])
            restored = training.get_info()
            model_name = getattr(restored.model_data, "model_name", None) or made_from
            if model_name != made_from:
                raise WorkerError("wrong_base_model", "checkpoint %s restored as %s, but its weights info says %s" % (path, model_name, made_from))
            rank = int(getattr(restored, "lora_rank", None) or info.lora_rank or 0)
            self.session = Session(training, made_from, rank, renderer_name)
        self.weights_changed("the model was opened or loaded again")
        if p.get("schedule") in ("with_step", "serial"):
            self.schedule = p["schedule"]
        return {"path": path, **self.session.card()}

    def delete_state(self, p):
        path = p["path"]
        if not isinstance(path, str) or not path.startswith("tinker://"):
            raise WorkerError("bad_request", "delete_state needs a tinker:// path, got %r" % (path,))
        rest = self.service_client().create_rest_client()
        resolve(with_retries(lambda: rest.delete_checkpoint_from_tinker_path(path), "delete_checkpoint_from_tinker_path"), TIMEOUTS["delete_state"])
        return {"deleted": True}

    def close(self, _p):
        self.session = None
        self.weights_changed("the session was closed")
        return {"closed": True}


METHODS = ("open", "sample", "train_supervised", "eval_supervised", "train_policy", "forward_backward", "optim_step", "save_state", "load_state", "delete_state", "close")
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


def main():
    worker = Worker()
    lines = iter(sys.stdin)
    for line in lines:
        if not line.strip():
            continue
        try:
            req = read_request(line, lines)
        except (ValueError, StopIteration) as e:
            emit(error_line(None, "bad_request", "unreadable request: %s" % e))
            continue
        rid = req.get("id")
        method = req.get("method")
        try:
            if IMPORT_ERROR:
                raise WorkerError("sdk_missing", "the tinker SDK or tinker_cookbook cannot be imported (%s); install them with pip install -r tools/tinker/backends/tinker/requirements.txt" % IMPORT_ERROR)
            fn = getattr(worker, method, None) if method in METHODS else None
            if fn is None:
                raise WorkerError("bad_request", "unknown method %r" % method)
            # Submitted here, in the order requests arrive (the service runs them in that order);
            # what then waits on the service finishes on a thread, so the next request is read.
            result = fn(req.get("params") or {})
            if isinstance(result, (Streamed, Later)):
                threading.Thread(target=finish_later, args=(rid, result), daemon=True).start()
            else:
                emit({"id": rid, "ok": True, "result": result})
        except Exception as e:  # noqa: BLE001 - every SDK failure goes back as data
            if method == "sample" and not (req.get("params") or {}).get("keep"):
                worker.rollouts.drop("the sample call that made them failed")
            emit(failure_line(rid, e))
        if method == "close":
            break


if __name__ == "__main__":
    main()
