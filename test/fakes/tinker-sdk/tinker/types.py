"""Fake tinker.types: the shapes of tinker 0.25, validated at least as strictly.

Where the real SDK uses pydantic models, these take keyword arguments only and refuse
unknown fields; where it converts values, these refuse what the real one refuses
(and a little more: floats and bools as token ids, non-integral target tokens).
"""
from enum import Enum

TENSOR_DTYPES = ("int64", "float32")
LOSS_FNS = ("cross_entropy", "importance_sampling", "ppo", "cispo", "dro")
# Datum converts a plain list by its key; any other list key is a KeyError, as in the SDK.
_KEY_TO_TYPE = {
    "target_tokens": "int64",
    "weights": "float32",
    "advantages": "float32",
    "logprobs": "float32",
    "clip_low_threshold": "float32",
    "clip_high_threshold": "float32",
}


class ValidationError(ValueError):
    """What pydantic raises for a bad field (the real SDK's models are pydantic)."""


class _Strict:
    """A pydantic-like model: keyword arguments only, no unknown fields, frozen."""

    _fields = {}

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError("BaseModel.__init__() takes 1 positional argument but %d were given" % (len(args) + 1))
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise ValidationError("%s: extra inputs are not permitted: %s" % (type(self).__name__, ", ".join(sorted(unknown))))
        for name, default in self._fields.items():
            if name not in kwargs and default is _REQUIRED:
                raise ValidationError("%s: field required: %s" % (type(self).__name__, name))
            object.__setattr__(self, name, kwargs.get(name, default))
        self._validate()

    def _validate(self):
        pass

    def __setattr__(self, name, value):
        raise ValidationError("%s is frozen" % type(self).__name__)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % (k, getattr(self, k)) for k in self._fields))


_REQUIRED = object()


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


class TensorData:
    def __init__(self, data=None, dtype=None, shape=None, sparse_crow_indices=None, sparse_col_indices=None):
        if dtype is None:
            raise TypeError("TensorData requires `dtype`")
        if dtype not in TENSOR_DTYPES:
            raise ValueError("Unsupported TensorDtype: %s" % dtype)
        values = list(data.tolist() if hasattr(data, "tolist") else (data or []))
        # The common cases in one pass each (benchmarks build millions of values); the slow loop names the culprit.
        clean = all(type(v) is int for v in values) if dtype == "int64" else all(type(v) is float or type(v) is int for v in values)
        if not clean:
            for v in values:
                if not _is_number(v):
                    raise ValueError("TensorData values must be numbers, got %r" % (v,))
                if dtype == "int64" and not (_is_int(v) or float(v).is_integer()):
                    raise ValueError("int64 TensorData got a non-integral value %r" % (v,))
        self.dtype = dtype
        self.shape = shape
        self._values = ([int(v) for v in values] if not clean else values) if dtype == "int64" else [float(v) for v in values]

    @property
    def data(self):
        return list(self._values)

    def tolist(self):
        return list(self._values)

    def __len__(self):
        return len(self._values)


class EncodedTextChunk(_Strict):
    _fields = {"tokens": _REQUIRED, "type": "encoded_text"}

    def _validate(self):
        if not isinstance(self.tokens, (list, tuple)):
            raise ValidationError("EncodedTextChunk.tokens: input should be a sequence of ints, got %s" % type(self.tokens).__name__)
        if not all(type(t) is int for t in self.tokens):
            bad = next(t for t in self.tokens if type(t) is not int)
            raise ValidationError("EncodedTextChunk.tokens: input should be a valid integer, got %r (%s)" % (bad, type(bad).__name__))

    @property
    def length(self):
        return len(self.tokens)


class ModelInput(_Strict):
    _fields = {"chunks": _REQUIRED}

    def _validate(self):
        if not isinstance(self.chunks, list) or not all(isinstance(c, EncodedTextChunk) for c in self.chunks):
            raise ValidationError("ModelInput.chunks must be a list of chunks")

    @classmethod
    def from_ints(cls, tokens):
        return cls(chunks=[EncodedTextChunk(tokens=tokens)])

    @classmethod
    def empty(cls):
        return cls(chunks=[])

    def to_ints(self):
        return [t for c in self.chunks for t in c.tokens]

    @property
    def length(self):
        return sum(c.length for c in self.chunks)

    def append(self, chunk):
        return ModelInput(chunks=self.chunks + [chunk])

    def append_int(self, token):
        return self.append(EncodedTextChunk(tokens=[token]))


class Datum:
    """A dataclass in the real SDK: lists are converted by key, TensorData passes through."""

    def __init__(self, model_input, loss_fn_inputs=None):
        self.model_input = model_input
        converted = {}
        for key, value in (loss_fn_inputs or {}).items():
            if isinstance(value, TensorData):
                converted[key] = value
            elif isinstance(value, list):
                dtype = _KEY_TO_TYPE[key]
                try:
                    converted[key] = TensorData(data=value, dtype=dtype, shape=[len(value)])
                except ValueError:
                    if any(isinstance(v, list) for v in value):
                        raise ValueError("%s must be a rectangular numeric array; ragged nested lists are not supported" % key)
                    raise
            else:
                raise TypeError("Unsupported loss_fn_inputs value for %r: %s" % (key, type(value).__name__))
        self.loss_fn_inputs = converted


class AdamParams(_Strict):
    _fields = {"learning_rate": 0.0001, "beta1": 0.9, "beta2": 0.95, "eps": 1e-12, "weight_decay": 0.0, "grad_clip_norm": 0.0}

    def _validate(self):
        for name in self._fields:
            if not _is_number(getattr(self, name)):
                raise ValidationError("AdamParams.%s must be a number" % name)


class SamplingParams(_Strict):
    # The real model ignores unknown fields (BaseModel, extra="ignore"); this one refuses them.
    _fields = {"max_tokens": None, "seed": None, "stop": None, "temperature": 1, "top_k": -1, "top_p": 1}

    def _validate(self):
        stop = self.stop
        if stop is not None and not isinstance(stop, str):
            if not isinstance(stop, (list, tuple)):
                raise ValidationError("SamplingParams.stop must be a string, a list of strings or a list of token ids")
            if not (all(isinstance(s, str) for s in stop) or all(_is_int(s) for s in stop)):
                raise ValidationError("SamplingParams.stop: a list must hold only strings or only token ids, got %r" % (list(stop),))
        if self.max_tokens is not None and not _is_int(self.max_tokens):
            raise ValidationError("SamplingParams.max_tokens must be an integer")
        if self.seed is not None and not _is_int(self.seed):
            raise ValidationError("SamplingParams.seed must be an integer")
        if not _is_number(self.temperature):
            raise ValidationError("SamplingParams.temperature must be a number")


class SampledSequence:
    def __init__(self, stop_reason, tokens_np=None, logprobs_np=None, _tokens_list=None, _logprobs_list=None):
        if stop_reason not in ("length", "stop"):
            raise ValueError("stop_reason must be 'length' or 'stop'")
        self.stop_reason = stop_reason
        self._tokens = list(_tokens_list if _tokens_list is not None else (tokens_np or []))
        self._logprobs = None if (_logprobs_list is None and logprobs_np is None) else list(_logprobs_list if _logprobs_list is not None else logprobs_np)

    @property
    def tokens(self):
        return self._tokens

    @property
    def logprobs(self):
        return self._logprobs


class SampleResponse:
    def __init__(self, sequences, prompt_logprobs_np=None, topk_prompt_logprobs_np=None, prompt_cache_hit_tokens=0):
        self.sequences = sequences
        self.prompt_cache_hit_tokens = prompt_cache_hit_tokens


class ForwardBackwardOutput:
    def __init__(self, loss_fn_output_type, loss_fn_outputs, metrics=None):
        self.loss_fn_output_type = loss_fn_output_type
        self.loss_fn_outputs = loss_fn_outputs
        self.metrics = metrics or {}


class OptimStepResponse(_Strict):
    _fields = {"metrics": None}


class SaveWeightsResponse(_Strict):
    _fields = {"path": _REQUIRED, "type": None}


class LoadWeightsResponse(_Strict):
    _fields = {"path": None, "model_id": None, "type": None}


class ModelData(_Strict):
    _fields = {"arch": None, "model_name": None, "tokenizer_id": None}


class GetInfoResponse(_Strict):
    _fields = {"type": None, "model_data": _REQUIRED, "model_id": _REQUIRED, "is_lora": None, "lora_rank": None, "model_name": None}


class WeightsInfoResponse(_Strict):
    _fields = {"base_model": _REQUIRED, "is_lora": _REQUIRED, "lora_rank": None, "train_unembed": None, "train_mlp": None, "train_attn": None}


class SupportedModel(_Strict):
    _fields = {"model_name": None, "max_context_length": None}


class GetServerCapabilitiesResponse(_Strict):
    _fields = {"supported_models": _REQUIRED}


class StopReason(str, Enum):
    LENGTH = "length"
    STOP = "stop"
