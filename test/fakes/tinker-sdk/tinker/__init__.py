"""Fake tinker SDK: records calls to $TINKER_FAKE_LOG; see README.md beside it."""
import json
import os
import struct
import time

from . import types

_MODE = os.environ.get("TINKER_FAKE_MODE", "")


def _record(call, **fields):
    path = os.environ.get("TINKER_FAKE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"call": call, **fields}) + "\n")


def _datum(d):
    return {"model_input": d.model_input.to_ints(), "loss_fn_inputs": {k: {"dtype": v.dtype, "data": v.tolist()} for k, v in d.loss_fn_inputs.items()}}


# Long completions for benchmarks: printable characters and log-probs with float32
# precision (what the real sampler returns), cycled from small pools so a 16k-token
# group is cheap to make.
_PRINTABLE = [c for c in range(33, 127)]
_LOGPROB_POOL = [struct.unpack("f", struct.pack("f", -((k * 7919) % 1000) / 997.0 - 1e-3))[0] for k in range(1009)]


def _long_body(n, salt):
    return [_PRINTABLE[(k * 31 + salt * 17 + (k >> 3)) % len(_PRINTABLE)] for k in range(n)]


def _float32_logprobs(n, salt):
    pool = _LOGPROB_POOL
    return [pool[(k + salt * 13) % len(pool)] for k in range(n)]


class APIFuture:
    def __init__(self, value):
        self._value = value

    def result(self, timeout=None):
        return self._value


class _Tokenizer:
    def encode(self, text, add_special_tokens=True):
        return [ord(c) for c in text]

    def decode(self, tokens):
        return "".join(chr(t) for t in tokens)


class SamplingClient:
    def __init__(self, owner):
        self._owner = owner

    def sample(self, prompt, num_samples, sampling_params, include_prompt_logprobs=False, topk_prompt_logprobs=0):
        _record("sample", prompt=prompt.to_ints(), num_samples=num_samples, max_tokens=sampling_params.max_tokens, temperature=sampling_params.temperature, stop=sampling_params.stop, seed=sampling_params.seed)
        if _MODE == "slow_sample":
            time.sleep(30)
        seqs = []
        long_tokens = int(os.environ.get("TINKER_FAKE_SAMPLE_TOKENS", "0") or 0)
        for i in range(num_samples):
            if long_tokens:
                body = _long_body(long_tokens - len("\n\nUser:"), i)
                tokens = body + [ord(c) for c in "\n\nUser:"]
                seqs.append(types.SampledSequence("stop", tokens, _float32_logprobs(len(tokens), i)))
                continue
            text = " %d" % (i % 3 + 4)
            tokens = [ord(c) for c in text] + [ord(c) for c in "\n\nUser:"]
            seqs.append(types.SampledSequence("stop", tokens, [-0.25] * len(tokens)))
        return APIFuture(types.SampleResponse(seqs))


class TrainingClient:
    def __init__(self, base_model, rank):
        self.base_model = base_model
        self.rank = rank
        self._steps = 0

    def get_tokenizer(self):
        return _Tokenizer()

    def _outputs(self, data):
        # Target log-probs drift a little with every optimizer step, so a KL can be measured.
        lp = -0.5 - 0.01 * self._steps
        return types.ForwardBackwardOutput("target_token_logprobs", [{"logprobs": types.TensorData([lp] * len(d.loss_fn_inputs["target_tokens"].tolist()))} for d in data], {})

    def forward_backward(self, data, loss_fn, loss_fn_config=None):
        _record("forward_backward", loss_fn=loss_fn, datums=[_datum(d) for d in data])
        if _MODE == "die_on_train":
            os._exit(9)
        return APIFuture(self._outputs(data))

    def forward(self, data, loss_fn, loss_fn_config=None):
        _record("forward", loss_fn=loss_fn, datums=[_datum(d) for d in data])
        return APIFuture(self._outputs(data))

    def optim_step(self, adam_params):
        self._steps += 1
        _record("optim_step", learning_rate=adam_params.learning_rate, beta1=adam_params.beta1, beta2=adam_params.beta2, eps=adam_params.eps)
        return APIFuture({})

    def save_weights_and_get_sampling_client(self, name=None, retry_config=None):
        _record("save_weights_and_get_sampling_client", name=name)
        return SamplingClient(self)

    def save_state(self, name, ttl_seconds=None):
        _record("save_state", name=name)
        return APIFuture(types.SaveWeightsResponse("tinker://fake-run/state/%s" % name))

    def load_state_with_optimizer(self, path):
        _record("load_state_with_optimizer", path=path)
        return APIFuture(None)


class ServiceClient:
    def __init__(self, user_metadata=None, **kwargs):
        key = os.environ.get("TINKER_API_KEY", "")
        if not key.startswith("tml-"):
            raise ValueError("TINKER_API_KEY must start with 'tml-'")
        _record("ServiceClient")

    def create_lora_training_client(self, base_model, rank=32, seed=None, train_mlp=True, train_attn=True, train_unembed=True, user_metadata=None):
        _record("create_lora_training_client", base_model=base_model, rank=rank)
        return TrainingClient(base_model, rank)

    def create_training_client_from_state_with_optimizer(self, path, user_metadata=None):
        # The current docs show this returning a future: ...with_optimizer(path).result().
        _record("create_training_client_from_state_with_optimizer", path=path)
        return APIFuture(TrainingClient("restored", 32))
