"""Fake tinker SDK (the shape of tinker 0.25): clients, a simulated service, and a call
log in $TINKER_FAKE_LOG. See README.md beside it."""
import concurrent.futures
import json
import math
import os
import re
import struct
import time

from . import _timing, types
from ._tokenizer import tokenizer_for

# The version it has the shape of (the real one reads its package metadata; doctor checks it against the pin).
__version__ = "0.25.0"

_MODES = set(filter(None, os.environ.get("TINKER_FAKE_MODE", "").split(",")))

# The models the fake service trains; the hybrid ones open their answer with a think block.
_SERVED = {
    "meta-llama/Llama-3.2-1B": False,
    "meta-llama/Llama-3.2-3B": False,
    "meta-llama/Llama-3.1-8B": False,
    "meta-llama/Llama-3.1-70B": False,
    "meta-llama/Llama-3.1-8B-Instruct": False,
    "meta-llama/Llama-3.3-70B-Instruct": False,
    "Qwen/Qwen3-8B": True,
    "Qwen/Qwen3-32B": True,
    "Qwen/Qwen3-30B-A3B": True,
    "Qwen/Qwen3-8B-Base": False,
    "Qwen/Qwen3-30B-A3B-Base": False,
    "Qwen/Qwen3-4B-Instruct-2507": False,
    "Qwen/Qwen3-30B-A3B-Instruct-2507": False,
}
# Each served model's context length, as the service reports it (get_server_capabilities).
_CONTEXT = {m: 262_144 if m.endswith("-2507") else 40_960 if m.startswith("Qwen/") else 131_072 for m in _SERVED}
_REQUIRED_INPUTS = {
    "cross_entropy": {"target_tokens", "weights"},
    "importance_sampling": {"target_tokens", "logprobs", "advantages"},
}
_CHECKPOINT = re.compile(r"^tinker://fake-(?P<model>.+)-r(?P<rank>\d+)/weights/(?P<name>[^/]+)$")


class TinkerError(Exception):
    pass


class APIStatusError(TinkerError):
    pass


class BadRequestError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class RequestFailedError(TinkerError):
    pass


def _record(call, **fields):
    """Appends a call to $TINKER_FAKE_LOG; a field given as a function is made only then
    (a batch's datums as JSON cost a benchmark's step more than the harness's own work)."""
    path = os.environ.get("TINKER_FAKE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"call": call, **{k: v() if callable(v) else v for k, v in fields.items()}}) + "\n")


def _datum(d):
    return {"model_input": d.model_input.to_ints(), "loss_fn_inputs": {k: {"dtype": v.dtype, "data": v.tolist()} for k, v in d.loss_fn_inputs.items()}}


class APIFuture:
    """A finished future; a failed request raises from result(), as the real one does."""

    def __init__(self, value=None, error=None):
        self._value = value
        self._error = error

    def result(self, timeout=None):
        if self._error is not None:
            raise self._error
        return self._value


def _checkpoint_path(base_model, rank, name):
    return "tinker://fake-%s-r%d/weights/%s" % (base_model.replace("/", "--"), rank, name)


def _parse_checkpoint(path):
    m = _CHECKPOINT.match(path) if isinstance(path, str) else None
    if not m:
        return None
    return m.group("model").replace("--", "/"), int(m.group("rank"))


# Long completions for benchmarks: printable characters and log-probs with float32
# precision (what the real sampler returns), cycled from small pools so a 16k-token
# group is cheap to make.
_PRINTABLE = list(range(33, 127))
_LOGPROB_POOL = [struct.unpack("f", struct.pack("f", -((k * 7919) % 1000) / 997.0 - 1e-3))[0] for k in range(1009)]


def _long_body(n, salt):
    """n printable characters; one token each (no special token can appear in them)."""
    return [_PRINTABLE[(k * 31 + salt * 17 + (k >> 3)) % len(_PRINTABLE)] for k in range(max(0, n))]


# Prompts the simulated service has prefilled: a prompt sampled again is served from its
# prefix cache (SampleResponse.prompt_cache_hit_tokens), as the real service bills it.
_PREFILLED = set()


class SamplingClient:
    def __init__(self, base_model, tokenizer):
        self._base_model = base_model
        self._tokenizer = tokenizer

    def _completion(self, i, stop, max_tokens, length=None):
        tok = self._tokenizer
        long_tokens = length or int(os.environ.get("TINKER_FAKE_SAMPLE_TOKENS", "0") or 0)
        content = os.environ.get("TINKER_FAKE_TEXT", "{n}").replace("{n}", str(i % 3 + 4))
        if isinstance(stop, str):
            stop = [stop]
        if stop and isinstance(stop[0], int):
            # A chat model ends its turn with the end-of-turn token the sampler stops on.
            think = tok.encode("<think>\nAdding the numbers.\n</think>\n\n" if _SERVED[self._base_model] else "", add_special_tokens=False)
            body = _long_body(long_tokens - 1 - len(think), i) if long_tokens else tok.encode(content, add_special_tokens=False)
            return think + body + [stop[0]], "stop"
        if long_tokens:
            tail = tok.encode(stop[0], add_special_tokens=False) if stop else []
            return tok.encode(" ", add_special_tokens=False) + _long_body(long_tokens - len(tail) - 1, i) + tail, "stop" if stop else "length"
        text = " " + content + (stop[0] if stop else "")
        if stop:
            # String stops end generation at the first one to appear; the stop is kept.
            ends = [text.find(s) + len(s) for s in stop if s and text.find(s) >= 0]
            text = text[: min(ends)] if ends else text
            return tok.encode(text, add_special_tokens=False), "stop"
        return tok.encode(text, add_special_tokens=False), "length"

    def sample(self, prompt, num_samples, sampling_params, include_prompt_logprobs=False, topk_prompt_logprobs=0):
        if not isinstance(prompt, types.ModelInput):
            raise TypeError("prompt must be a ModelInput")
        if not isinstance(sampling_params, types.SamplingParams):
            raise TypeError("sampling_params must be a SamplingParams")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError("num_samples must be a positive int")
        p = sampling_params
        if "slow_sample" in _MODES:
            time.sleep(30)
        timed = _timing.CONFIG is not None
        lengths = [_timing.completion_length(prompt.to_ints(), i, p.max_tokens) for i in range(num_samples)] if timed else [None] * num_samples
        long_mode = timed or bool(os.environ.get("TINKER_FAKE_SAMPLE_TOKENS"))
        seqs = []
        for i in range(num_samples):
            tokens, reason = self._completion(i, p.stop, p.max_tokens, lengths[i])
            if p.max_tokens is not None and len(tokens) > p.max_tokens:
                tokens, reason = tokens[: p.max_tokens], "length"
            logprobs = [_LOGPROB_POOL[(k + i * 13) % len(_LOGPROB_POOL)] for k in range(len(tokens))] if long_mode else [-0.25] * len(tokens)
            seqs.append(types.SampledSequence(stop_reason=reason, _tokens_list=tokens, _logprobs_list=logprobs))
        sampled = [{"tokens": q.tokens, "logprobs": q.logprobs, "stop_reason": q.stop_reason} for q in seqs] if not long_mode else []
        key = (self._base_model, tuple(prompt.to_ints()))
        hit = prompt.length if key in _PREFILLED else 0
        _PREFILLED.add(key)
        _record("sample", prompt=prompt.to_ints(), num_samples=num_samples, max_tokens=p.max_tokens, temperature=p.temperature, stop=p.stop, seed=p.seed, sequences=sampled, prompt_cache_hit_tokens=hit)
        response = types.SampleResponse(sequences=seqs, prompt_cache_hit_tokens=hit)
        if timed:
            return _timing.submit_sample(prompt.length, [len(q.tokens) for q in seqs], lambda: response)
        # The SDK's sample returns a concurrent.futures.Future (not an APIFuture).
        done = concurrent.futures.Future()
        done.set_result(response)
        return done


def _check_batch(data, loss_fn):
    """What the service refuses: unknown loss functions, missing or extra inputs, ragged lengths."""
    if loss_fn not in types.LOSS_FNS:
        return "unknown loss function %r" % (loss_fn,)
    if not isinstance(data, list) or not data:
        return "data must be a non-empty list of Datum"
    required = _REQUIRED_INPUTS.get(loss_fn)
    for k, d in enumerate(data):
        if not isinstance(d, types.Datum) or not isinstance(d.model_input, types.ModelInput):
            return "datum %d is not a Datum with a ModelInput" % k
        n = d.model_input.length
        keys = set(d.loss_fn_inputs)
        if required is not None and keys != required:
            return "datum %d: %s needs inputs %s, got %s" % (k, loss_fn, sorted(required), sorted(keys))
        for key, td in d.loss_fn_inputs.items():
            if len(td) != n:
                return "datum %d: %s has %d values for %d input tokens" % (k, key, len(td), n)
            if td.dtype != ("int64" if key == "target_tokens" else "float32"):
                return "datum %d: %s has dtype %s" % (k, key, td.dtype)
    return None


class TrainingClient:
    def __init__(self, base_model, rank):
        self._base_model = base_model
        self._rank = rank
        self._steps = 0
        self._tokenizer = tokenizer_for(base_model)
        self._clock = _timing.TrainClock() if _timing.CONFIG is not None else None

    def _landed(self, what, tokens, value=None, error=None):
        """The operation's future: finished now, or under the timing model when its clock cycle ends."""
        if self._clock is None:
            return APIFuture(value, error)
        return _timing.DelayedFuture(self._clock.schedule(what, tokens), value, error)

    def get_tokenizer(self):
        return self._tokenizer

    def get_info(self):
        return types.GetInfoResponse(
            model_data=types.ModelData(arch="fake", model_name=self._base_model, tokenizer_id=self._tokenizer.name_or_path),
            model_id="fake-model-%s" % self._base_model,
            is_lora=True,
            lora_rank=self._rank,
            model_name=self._base_model,
        )

    def _run(self, call, data, loss_fn):
        problem = _check_batch(data, loss_fn)
        _record(call, loss_fn=loss_fn, datums=lambda: [_datum(d) for d in data] if problem is None else [])
        if problem:
            return self._landed(call, 0, error=RequestFailedError("Request failed: %s" % problem))
        if call == "forward_backward" and "die_on_train" in _MODES:
            os._exit(9)
        # Dies once: the first forward-backward after the file $TINKER_FAKE_DIE_ONCE appears.
        once = os.environ.get("TINKER_FAKE_DIE_ONCE")
        if call == "forward_backward" and once and os.path.exists(once):
            os.remove(once)
            os._exit(9)
        # Target log-probs drift a little with every optimizer step, so a KL can be measured.
        lp = -0.5 - 0.01 * self._steps

        def compute():
            outputs, loss_sum = [], 0.0
            for d in data:
                n = d.model_input.length
                inputs = {k: v.tolist() for k, v in d.loss_fn_inputs.items()}
                if loss_fn == "cross_entropy":
                    loss_sum += -sum(w * lp for w in inputs["weights"])
                else:
                    loss_sum += -sum(math.exp(lp - old) * a for old, a in zip(inputs["logprobs"], inputs["advantages"]) if a != 0.0)
                # A server-side filter can drop the per-token outputs (the metrics stay).
                outputs.append({} if "drop_logprobs" in _MODES else {"logprobs": types.TensorData(data=[lp] * n, dtype="float32")})
            return types.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord", loss_fn_outputs=outputs, metrics={"loss:sum": loss_sum})

        if self._clock is None:
            return APIFuture(compute())
        # Under the timing model the service's own work is done while its result is awaited, not on submission.
        return _timing.DelayedFuture(self._clock.schedule(call, sum(d.model_input.length for d in data)), make=compute)

    def forward_backward(self, data, loss_fn, loss_fn_config=None):
        return self._run("forward_backward", data, loss_fn)

    def forward(self, data, loss_fn, loss_fn_config=None):
        return self._run("forward", data, loss_fn)

    def optim_step(self, adam_params):
        if not isinstance(adam_params, types.AdamParams):
            raise TypeError("optim_step takes AdamParams")
        self._steps += 1
        _record("optim_step", **{k: getattr(adam_params, k) for k in types.AdamParams._fields})
        return self._landed("optim_step", 0 if self._clock is None else _timing.CONFIG["step_tokens"], types.OptimStepResponse(metrics={}))

    def save_weights_and_get_sampling_client(self, name=None, retry_config=None):
        _record("save_weights_and_get_sampling_client")
        if self._clock is not None:
            # Synchronous in the SDK: it returns once the weights are saved (a training operation of its own).
            self._landed("save_weights_for_sampler", _timing.CONFIG["step_tokens"]).result()
        return SamplingClient(self._base_model, self._tokenizer)

    def save_state(self, name, ttl_seconds=None, overwrite=False):
        _record("save_state", name=name)
        return APIFuture(types.SaveWeightsResponse(path=_checkpoint_path(self._base_model, self._rank, name)))

    def _load(self, call, path):
        _record(call, path=path)
        found = _parse_checkpoint(path)
        if found is None:
            return APIFuture(error=RequestFailedError("Request failed: checkpoint %s not found" % path))
        if found[0] != self._base_model:
            return APIFuture(error=RequestFailedError("Request failed: checkpoint %s was trained from %s, this model is %s" % (path, found[0], self._base_model)))
        return APIFuture(types.LoadWeightsResponse(path=path))

    def load_state(self, path, weights_access_token=None):
        return self._load("load_state", path)

    def load_state_with_optimizer(self, path, weights_access_token=None):
        return self._load("load_state_with_optimizer", path)


class RestClient:
    def get_weights_info_by_tinker_path(self, tinker_path):
        _record("get_weights_info_by_tinker_path", path=tinker_path)
        found = _parse_checkpoint(tinker_path)
        if found is None:
            return APIFuture(error=NotFoundError("checkpoint %s not found" % tinker_path))
        return APIFuture(types.WeightsInfoResponse(base_model=found[0], is_lora=True, lora_rank=found[1]))

    def delete_checkpoint_from_tinker_path(self, tinker_path):
        _record("delete_checkpoint_from_tinker_path", path=tinker_path)
        if _parse_checkpoint(tinker_path) is None:
            return APIFuture(error=NotFoundError("checkpoint %s not found" % tinker_path))
        return APIFuture(None)


class ServiceClient:
    def __init__(self, user_metadata=None, project_id=None, **kwargs):
        key = os.environ.get("TINKER_API_KEY", "")
        if not key.startswith("tml-"):
            raise ValueError("TINKER_API_KEY must start with 'tml-'")
        _record("ServiceClient")

    def get_server_capabilities(self):
        # Not logged: a read of the service's lineup, not a call the tests follow.
        return types.GetServerCapabilitiesResponse(supported_models=[types.SupportedModel(model_name=m, max_context_length=_CONTEXT[m]) for m in _SERVED])

    def create_lora_training_client(self, base_model, rank=32, seed=None, train_mlp=True, train_attn=True, train_unembed=True, user_metadata=None):
        _record("create_lora_training_client", base_model=base_model, rank=rank)
        if base_model not in _SERVED:
            raise BadRequestError("base model %r is not supported" % (base_model,))
        if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
            raise BadRequestError("rank must be a positive int")
        return TrainingClient(base_model, rank)

    def _from_state(self, call, path, base_model):
        _record(call, path=path, base_model=base_model)
        found = _parse_checkpoint(path)
        if found is None:
            raise NotFoundError("checkpoint %s not found" % path)
        if base_model is not None and base_model != found[0]:
            raise BadRequestError("checkpoint %s was trained from %s, not %s" % (path, found[0], base_model))
        return TrainingClient(found[0], found[1])

    def create_training_client_from_state(self, path, base_model=None, user_metadata=None, weights_access_token=None):
        return self._from_state("create_training_client_from_state", path, base_model)

    def create_training_client_from_state_with_optimizer(self, path, base_model=None, user_metadata=None, weights_access_token=None):
        # Synchronous in 0.25: returns the TrainingClient itself, not a future.
        return self._from_state("create_training_client_from_state_with_optimizer", path, base_model)

    def create_rest_client(self):
        return RestClient()
