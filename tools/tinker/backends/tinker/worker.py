"""Tinker backend worker: the official `tinker` SDK and the cookbook's renderers behind
a JSON-lines protocol on stdio.

One request per line in: {"id": n, "method": str, "params": {...}}
One response per line out: {"id": n, "ok": true, "result": ...}
                        or {"id": n, "ok": false, "error": {"type", "message", "retryable"}}
Logs go to stderr only; stdout is reserved for responses (anything the SDK prints is
redirected to stderr).
"""
import json
import math
import os
import sys
import time
import traceback

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
TIMEOUTS = {"open": 1800, "sample": 600, "train_supervised": 900, "eval_supervised": 900, "train_policy": 900, "save_state": 1500, "load_state": 1500}


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
    """TensorData or list -> list of floats."""
    if hasattr(tensor_like, "tolist"):
        return [float(x) for x in tensor_like.tolist()]
    if hasattr(tensor_like, "data"):
        return [float(x) for x in tensor_like.data]
    return [float(x) for x in tensor_like]


class Worker:
    def __init__(self):
        self.service = None
        self.training = None
        self.sampler = None
        self.tokenizer = None
        self.renderer = None
        self.renderer_name = None
        self.base_model = None

    # --- helpers -------------------------------------------------------------
    def need(self):
        if self.training is None:
            raise WorkerError("no_session", "no model is open in the Tinker worker; call open first")

    def prompt_input(self, prompt):
        return self.renderer.build_generation_prompt([{"role": "user", "content": prompt}])

    def sampling_client(self):
        if self.sampler is None:
            self.sampler = with_retries(lambda: self.training.save_weights_and_get_sampling_client(), "save_weights_and_get_sampling_client")
        return self.sampler

    def supervised_datums(self, examples):
        datums = []
        for ex in examples:
            messages = [{"role": "user", "content": ex["prompt"]}, {"role": "assistant", "content": ex["response"]}]
            model_input, weights = self.renderer.build_supervised_example(messages)
            tokens = model_input.to_ints()
            w = floats(weights)
            if len(tokens) < 2 or len(tokens) != len(w):
                raise WorkerError("bad_example", "an example rendered to %d tokens and %d weights" % (len(tokens), len(w)))
            datums.append(types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={"target_tokens": tokens[1:], "weights": w[1:]},
            ))
        return datums

    @staticmethod
    def weighted_nll(datums, output):
        total, weight = 0.0, 0.0
        for d, out in zip(datums, output.loss_fn_outputs):
            lps = floats(out["logprobs"])
            ws = floats(d.loss_fn_inputs["weights"])
            total += -sum(lp * w for lp, w in zip(lps, ws))
            weight += sum(ws)
        return total / weight if weight > 0 else 0.0, int(weight)

    # --- methods -------------------------------------------------------------
    def open(self, p):
        self.service = self.service or tinker.ServiceClient()
        rank = int(p.get("rank", 32))
        self.training = resolve(with_retries(lambda: self.service.create_lora_training_client(base_model=p["base_model"], rank=rank), "create_lora_training_client"), TIMEOUTS["open"])
        self.tokenizer = self.training.get_tokenizer()
        self.renderer_name = p.get("renderer") or model_info.get_recommended_renderer_name(p["base_model"])
        self.renderer = renderers.get_renderer(self.renderer_name, self.tokenizer)
        self.base_model = p["base_model"]
        self.sampler = None
        stops = self.renderer.get_stop_sequences()
        return {"base_model": self.base_model, "renderer": self.renderer_name, "stop": [s if isinstance(s, str) else "<token %d>" % s for s in stops]}

    def sample(self, p):
        self.need()
        client = self.sampling_client()
        stops = self.renderer.get_stop_sequences()
        extra = [s for s in p.get("stop") or [] if s]
        if extra and all(isinstance(s, str) for s in stops):
            stops = list(stops) + extra
        params = types.SamplingParams(max_tokens=int(p["max_tokens"]), temperature=float(p["temperature"]), stop=stops, seed=p.get("seed"))
        futures = [client.sample(prompt=self.prompt_input(text), num_samples=int(p["n"]), sampling_params=params) for text in p["prompts"]]
        groups = []
        for fut in futures:
            resp = resolve(fut, TIMEOUTS["sample"])
            group = []
            for seq in resp.sequences:
                tokens = list(seq.tokens)
                if seq.logprobs is None or len(seq.logprobs) != len(tokens):
                    raise WorkerError("bad_sample", "the sampler returned %s logprobs for %d tokens" % ("no" if seq.logprobs is None else len(seq.logprobs), len(tokens)))
                message, _ok = self.renderer.parse_response(tokens)
                group.append({"text": renderers.get_text_content(message), "tokens": tokens, "logprobs": [float(x) for x in seq.logprobs], "finish_reason": "stop" if seq.stop_reason == "stop" else "length"})
            groups.append(group)
        return groups

    def adam(self, p):
        return types.AdamParams(learning_rate=float(p["learning_rate"]), beta1=float(p.get("beta1", 0.9)), beta2=float(p.get("beta2", 0.95)), eps=float(p.get("eps", 1e-8)))

    def train_supervised(self, p):
        self.need()
        datums = self.supervised_datums(p["examples"])
        fb = self.training.forward_backward(datums, loss_fn="cross_entropy")
        opt = self.training.optim_step(self.adam(p))
        out = resolve(fb, TIMEOUTS["train_supervised"])
        resolve(opt, TIMEOUTS["train_supervised"])
        self.sampler = None
        loss, tokens = self.weighted_nll(datums, out)
        return {"loss": loss, "tokens": tokens}

    def eval_supervised(self, p):
        self.need()
        datums = self.supervised_datums(p["examples"])
        out = resolve(self.training.forward(datums, loss_fn="cross_entropy"), TIMEOUTS["eval_supervised"])
        loss, tokens = self.weighted_nll(datums, out)
        return {"loss": loss, "tokens": tokens}

    def train_policy(self, p):
        self.need()
        datums, spans = [], []
        for r in p["rollouts"]:
            prompt = self.prompt_input(r["prompt"]).to_ints()
            toks, lps = list(r["tokens"]), [float(x) for x in r["logprobs"]]
            if len(toks) < 1 or len(toks) != len(lps):
                raise WorkerError("bad_rollout", "a rollout has %d tokens and %d logprobs" % (len(toks), len(lps)))
            pad = len(prompt) - 1
            datums.append(types.Datum(
                model_input=types.ModelInput.from_ints(prompt + toks[:-1]),
                loss_fn_inputs={
                    "target_tokens": [0] * pad + toks,
                    "logprobs": [0.0] * pad + lps,
                    "advantages": [0.0] * pad + [float(r["advantage"])] * len(toks),
                },
            ))
            spans.append((pad, lps, float(r["advantage"])))
        fb = self.training.forward_backward(datums, loss_fn="importance_sampling")
        opt = self.training.optim_step(self.adam(p))
        out = resolve(fb, TIMEOUTS["train_policy"])
        resolve(opt, TIMEOUTS["train_policy"])
        self.sampler = None
        diffs, objective, count = [], 0.0, 0
        for (pad, old, adv), o in zip(spans, out.loss_fn_outputs):
            new = floats(o["logprobs"])[pad:pad + len(old)]
            for a, b in zip(old, new):
                diffs.append(a - b)
                objective += math.exp(b - a) * adv
                count += 1
        n = max(1, len(diffs))
        return {"loss": -objective / max(1, count), "kl": sum(diffs) / n, "kl_squared": sum(0.5 * d * d for d in diffs) / n, "tokens": count}

    def save_state(self, p):
        self.need()
        res = resolve(with_retries(lambda: self.training.save_state(p["name"]), "save_state"), TIMEOUTS["save_state"])
        path = getattr(res, "path", None) or getattr(res, "checkpoint_path", None)
        if not path:
            raise WorkerError("bad_response", "save_state returned no path")
        return {"path": path}

    def load_state(self, p):
        self.service = self.service or tinker.ServiceClient()
        path = p["path"]
        if self.training is None:
            # Documented as returning a future (…_with_optimizer(path).result()); resolve() accepts either.
            self.training = resolve(with_retries(lambda: self.service.create_training_client_from_state_with_optimizer(path), "create_training_client_from_state_with_optimizer"), TIMEOUTS["load_state"])
            self.tokenizer = self.training.get_tokenizer()
            self.base_model = p.get("base_model") or self.base_model
            self.renderer_name = p.get("renderer") or model_info.get_recommended_renderer_name(self.base_model)
            self.renderer = renderers.get_renderer(self.renderer_name, self.tokenizer)
        else:
            resolve(self.training.load_state_with_optimizer(path), TIMEOUTS["load_state"])
        self.sampler = None
        return {"path": path, "base_model": self.base_model}

    def close(self, _p):
        self.training = None
        self.sampler = None
        return {"closed": True}


def main():
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            OUT.write(json.dumps({"id": None, "ok": False, "error": {"type": "bad_request", "message": "unreadable request: %s" % e, "retryable": False}}) + "\n")
            continue
        rid = req.get("id")
        method = req.get("method")
        try:
            if IMPORT_ERROR:
                raise WorkerError("sdk_missing", "the tinker SDK or tinker_cookbook cannot be imported (%s); install them with pip install -r tools/tinker/backends/tinker/requirements.txt" % IMPORT_ERROR)
            fn = getattr(worker, method, None) if method in ("open", "sample", "train_supervised", "eval_supervised", "train_policy", "save_state", "load_state", "close") else None
            if fn is None:
                raise WorkerError("bad_request", "unknown method %r" % method)
            result = fn(req.get("params") or {})
            OUT.write(json.dumps({"id": rid, "ok": True, "result": result}) + "\n")
        except WorkerError as e:
            OUT.write(json.dumps({"id": rid, "ok": False, "error": {"type": e.kind, "message": str(e), "retryable": e.retryable}}) + "\n")
        except Exception as e:  # noqa: BLE001 - every SDK failure goes back as data
            log(traceback.format_exc())
            name = type(e).__name__
            OUT.write(json.dumps({"id": rid, "ok": False, "error": {"type": name, "message": str(e), "retryable": any(t in name for t in TRANSIENT)}}) + "\n")
        if method == "close":
            break


if __name__ == "__main__":
    main()
