"""Fake tinker.types: the documented shapes, no computation."""


class TensorData:
    def __init__(self, data, dtype="float32"):
        self.data = list(data)
        self.dtype = dtype

    def tolist(self):
        return list(self.data)


class EncodedTextChunk:
    def __init__(self, tokens):
        self.tokens = list(tokens)


class ModelInput:
    def __init__(self, chunks):
        self.chunks = list(chunks)

    @classmethod
    def from_ints(cls, tokens):
        return cls([EncodedTextChunk(tokens)])

    def to_ints(self):
        out = []
        for c in self.chunks:
            out.extend(c.tokens)
        return out

    @property
    def length(self):
        return len(self.to_ints())

    def append(self, chunk):
        return ModelInput(self.chunks + [chunk])


_INT_KEYS = {"target_tokens"}


class Datum:
    def __init__(self, model_input, loss_fn_inputs):
        self.model_input = model_input
        # Like the real SDK, plain lists become TensorData with a dtype inferred from the key.
        self.loss_fn_inputs = {
            k: v if isinstance(v, TensorData) else TensorData(v, "int64" if k in _INT_KEYS else "float32")
            for k, v in loss_fn_inputs.items()
        }


class AdamParams:
    def __init__(self, learning_rate=1e-4, beta1=0.9, beta2=0.95, eps=1e-12, weight_decay=0.0, grad_clip_norm=0.0):
        self.learning_rate = learning_rate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weight_decay = weight_decay
        self.grad_clip_norm = grad_clip_norm


class SamplingParams:
    def __init__(self, max_tokens=None, seed=None, stop=None, temperature=1, top_k=-1, top_p=1):
        self.max_tokens = max_tokens
        self.seed = seed
        self.stop = stop
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p


class SampledSequence:
    def __init__(self, stop_reason, tokens, logprobs):
        self.stop_reason = stop_reason
        self.tokens = tokens
        self.logprobs = logprobs


class SampleResponse:
    def __init__(self, sequences):
        self.sequences = sequences


class ForwardBackwardOutput:
    def __init__(self, loss_fn_output_type, loss_fn_outputs, metrics):
        self.loss_fn_output_type = loss_fn_output_type
        self.loss_fn_outputs = loss_fn_outputs
        self.metrics = metrics


class SaveWeightsResponse:
    def __init__(self, path):
        self.path = path
