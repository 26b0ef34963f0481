"""The Tinker service, stood in for at the client-object level, for `npm run test:real-sdk`.

The real SDK (tinker 0.25 source) runs unchanged down to the object that would speak
HTTP: its `AsyncTinker` is replaced by `StubTinker`, whose resources take the SDK's
real request types and answer with its real response types — JSON-able pydantic
models, and proto bytes for SampleResponse and ForwardBackwardOutput, exactly as the
SDK's futures expect them. Forward/backward requests are encoded with the SDK's own
proto writer and read back from the wire form, as a server would.

Checkpoints outlive the process (a fresh worker restores them) in the JSON file
$TINKER_STUB_STATE.
"""
import itertools
import json
import os
import re
import secrets
import threading

import numpy as np
from tinker import types
from tinker.proto import tinker_public_pb2 as pb
from tinker.proto.request_conv import forward_backward_request_to_proto

from fake_tokenizers import tokenizer_for

# Hybrid models open their answer with a think block.
THINKING = {"Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B"}
REQUIRED_INPUTS = {"cross_entropy": {"target_tokens", "weights"}, "importance_sampling": {"target_tokens", "logprobs", "advantages"}}
ANSWER = os.environ.get("TINKER_STUB_TEXT", "{n} ### and more text")


class StubError(Exception):
    pass


class Service:
    """What the remote service would hold: sessions, models, pending results, checkpoints."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.process = secrets.token_hex(3)
        self.models = {}  # model_id -> {"base_model", "rank", "steps"}
        self.samplers = {}  # sampling_session_id -> model_id or base model
        self.results = {}  # request_id -> ("json", dict) | ("proto", bytes) | ("error", message)
        self.state_file = os.environ.get("TINKER_STUB_STATE")

    def next_id(self, prefix):
        # Unique across worker processes too: checkpoint paths are made from model ids.
        with self.lock:
            return "%s-%s-%d" % (prefix, self.process, next(self.ids))

    def checkpoints(self):
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file) as f:
                return json.load(f)
        return {}

    def remember(self, path, entry):
        cps = self.checkpoints()
        cps[path] = entry
        if self.state_file:
            with open(self.state_file, "w") as f:
                json.dump(cps, f)

    def forget(self, path):
        cps = self.checkpoints()
        if path not in cps:
            return False
        del cps[path]
        if self.state_file:
            with open(self.state_file, "w") as f:
                json.dump(cps, f)
        return True

    def pending(self, kind, payload, model_id=None):
        rid = self.next_id("req")
        self.results[rid] = (kind, payload)
        return types.UntypedAPIFuture(request_id=rid, model_id=model_id)

    def model(self, model_id):
        if model_id not in self.models:
            raise StubError("unknown model_id %r" % model_id)
        return self.models[model_id]


SERVICE = Service()


def _json(model):
    return model.model_dump(mode="json")


def _check(cls, request):
    if not isinstance(request, cls):
        raise StubError("expected a %s, got %s" % (cls.__name__, type(request).__name__))


class _ServiceResource:
    async def client_config(self, *, request, **_):
        _check(types.ClientConfigRequest, request)
        return types.ClientConfigResponse(use_pyqwest_transport=False)

    async def client_dynamic_config(self, *, request, **_):
        return types.ClientDynamicConfigResponse()

    async def create_session(self, *, request, **_):
        _check(types.CreateSessionRequest, request)
        return types.CreateSessionResponse(session_id=SERVICE.next_id("session"))

    async def session_heartbeat(self, *, session_id, **_):
        return types.SessionHeartbeatResponse()

    async def create_sampling_session(self, *, request, **_):
        _check(types.CreateSamplingSessionRequest, request)
        sid = SERVICE.next_id("sampler")
        SERVICE.samplers[sid] = request.base_model or request.model_path
        return types.CreateSamplingSessionResponse(sampling_session_id=sid)


class _ModelsResource:
    async def create(self, *, request, **_):
        _check(types.CreateModelRequest, request)
        model_id = "%s:train:%d" % (request.session_id, request.model_seq_id)
        SERVICE.models[model_id] = {"base_model": request.base_model, "rank": request.lora_config.rank, "steps": 0}
        return SERVICE.pending("json", _json(types.CreateModelResponse(model_id=model_id)), model_id)

    async def get_info(self, *, request, **_):
        _check(types.GetInfoRequest, request)
        m = SERVICE.model(request.model_id)
        tok = tokenizer_for(m["base_model"])
        return types.GetInfoResponse(
            model_data=types.ModelData(arch="stub", model_name=m["base_model"], tokenizer_id=tok.name_or_path),
            model_id=request.model_id,
            is_lora=True,
            lora_rank=m["rank"],
            model_name=m["base_model"],
        )


def _wire_datums(request):
    """The batch as the server receives it: the SDK's proto encoding, parsed back."""
    raw = forward_backward_request_to_proto(request).SerializeToString()
    msg = pb.ForwardBackwardRequest()
    msg.ParseFromString(raw)
    dtypes = {pb.DTYPE_FLOAT32: np.float32, pb.DTYPE_INT64: np.int64}
    datums = []
    for d in msg.data:
        tokens = [t for c in d.model_input for t in np.frombuffer(c.encoded_text.tokens, dtype=np.int32).tolist()]
        inputs = {}
        for name, t in d.loss_fn_inputs.items():
            if t.dtype not in dtypes:
                raise StubError("input %s has an unsupported dtype %s" % (name, t.dtype))
            inputs[name] = (t.dtype, np.frombuffer(t.dense, dtype=dtypes[t.dtype]).tolist())
        datums.append((tokens, inputs))
    return msg.loss_fn, datums


class _TrainingResource:
    async def forward_backward(self, *, request, forward_only=False, **_):
        _check(types.ForwardBackwardRequest, request)
        m = SERVICE.model(request.model_id)
        loss_fn, datums = _wire_datums(request)
        required = REQUIRED_INPUTS.get(loss_fn)
        if required is None:
            return SERVICE.pending("error", "unsupported loss function %r" % loss_fn)
        lp = -0.5 - 0.01 * m["steps"]
        outputs, loss_sum = [], 0.0
        for k, (tokens, inputs) in enumerate(datums):
            if set(inputs) != required:
                return SERVICE.pending("error", "datum %d: %s needs %s, got %s" % (k, loss_fn, sorted(required), sorted(inputs)))
            for name, (dtype, values) in inputs.items():
                if len(values) != len(tokens):
                    return SERVICE.pending("error", "datum %d: %s has %d values for %d tokens" % (k, name, len(values), len(tokens)))
                if (dtype == pb.DTYPE_INT64) != (name == "target_tokens"):
                    return SERVICE.pending("error", "datum %d: %s has the wrong dtype" % (k, name))
            values = {name: v for name, (_dtype, v) in inputs.items()}
            if loss_fn == "cross_entropy":
                loss_sum += -sum(w * lp for w in values["weights"])
            else:
                loss_sum += -sum(np.exp(lp - old) * a for old, a in zip(values["logprobs"], values["advantages"]))
            outputs.append(np.full(len(tokens), lp, dtype=np.float32))
        offsets = np.cumsum([0] + [o.nbytes for o in outputs]).astype(np.int64)
        record = pb.ArrayRecord(
            type_tag="stub:ArrayRecord",
            fields={"logprobs": pb.BatchedTensor(data=b"".join(o.tobytes() for o in outputs), offsets=offsets.tobytes(), dtype=pb.DTYPE_FLOAT32)},
            num_datums=len(outputs),
        )
        out = pb.ForwardBackwardOutput(loss_fn_output_type="stub:ArrayRecord", loss_fn_outputs=[record], metrics={"loss:sum": float(loss_sum)})
        return SERVICE.pending("proto", out.SerializeToString(), request.model_id)

    async def optim_step(self, *, request, **_):
        _check(types.OptimStepRequest, request)
        _check(types.AdamParams, request.adam_params)
        SERVICE.model(request.model_id)["steps"] += 1
        return SERVICE.pending("json", _json(types.OptimStepResponse(metrics={})), request.model_id)


class _WeightsResource:
    async def save(self, *, request, **_):
        _check(types.SaveWeightsRequest, request)
        m = SERVICE.model(request.model_id)
        path = "tinker://%s/weights/%s" % (request.model_id.replace(":", "-"), request.path)
        SERVICE.remember(path, {"base_model": m["base_model"], "rank": m["rank"]})
        return SERVICE.pending("json", _json(types.SaveWeightsResponse(path=path)), request.model_id)

    async def save_for_sampler(self, *, request, **_):
        _check(types.SaveWeightsForSamplerRequest, request)
        SERVICE.model(request.model_id)
        sid = SERVICE.next_id("sampler")
        SERVICE.samplers[sid] = request.model_id
        return SERVICE.pending("json", {"sampling_session_id": sid, "type": "save_weights_for_sampler"}, request.model_id)

    async def load(self, *, request, **_):
        _check(types.LoadWeightsRequest, request)
        cp = SERVICE.checkpoints().get(request.path)
        if cp is None:
            return SERVICE.pending("error", "checkpoint %s not found" % request.path)
        m = SERVICE.model(request.model_id)
        if m["base_model"] != cp["base_model"]:
            return SERVICE.pending("error", "checkpoint %s is of %s, the model is %s" % (request.path, cp["base_model"], m["base_model"]))
        return SERVICE.pending("json", _json(types.LoadWeightsResponse(path=request.path, model_id=request.model_id)), request.model_id)


# Prompts the stubbed service has prefilled: sampling one again is billed as prefix-cache
# hits (SampleResponse.prompt_cache_hit_tokens, proto field 4), as the service reports them.
PREFILLED = set()


def _sample(base_model, request):
    tok = tokenizer_for(base_model)
    prompt = tuple(request.prompt.to_ints())
    hit = len(prompt) if (base_model, prompt) in PREFILLED else 0
    PREFILLED.add((base_model, prompt))
    params = request.sampling_params
    stop = [params.stop] if isinstance(params.stop, str) else list(params.stop or [])
    seqs = []
    for i in range(request.num_samples):
        answer = ANSWER.replace("{n}", str(i % 3 + 4))
        if stop and isinstance(stop[0], int):
            think = "<think>\nAdding the numbers.\n</think>\n\n" if base_model in THINKING else ""
            tokens, reason = tok.encode(think + answer, add_special_tokens=False) + [stop[0]], pb.STOP_REASON_STOP
        else:
            text = " " + answer + (stop[0] if stop else "")
            ends = [text.find(s) + len(s) for s in stop if s and text.find(s) >= 0]
            tokens, reason = tok.encode(text[: min(ends)] if ends else text, add_special_tokens=False), pb.STOP_REASON_STOP if ends else pb.STOP_REASON_LENGTH
        if params.max_tokens is not None and len(tokens) > params.max_tokens:
            tokens, reason = tokens[: params.max_tokens], pb.STOP_REASON_LENGTH
        seqs.append(pb.SampledSequence(stop_reason=reason, tokens=np.array(tokens, dtype=np.int32).tobytes(), logprobs=np.full(len(tokens), -0.25, dtype=np.float32).tobytes()))
    return pb.SampleResponse(sequences=seqs, prompt_cache_hit_tokens=hit).SerializeToString()


class _SamplingResource:
    async def asample(self, *, request, **_):
        _check(types.SampleRequest, request)
        target = SERVICE.samplers.get(request.sampling_session_id)
        if target is None:
            raise StubError("unknown sampling session %r" % request.sampling_session_id)
        base_model = SERVICE.models[target]["base_model"] if target in SERVICE.models else target
        return SERVICE.pending("proto", _sample(base_model, request))


class _RawResponse:
    def __init__(self, kind, payload):
        self.headers = {"content-type": "application/x-protobuf" if kind == "proto" else "application/json"}
        self.http_response = type("HttpResponse", (), {"content": payload if kind == "proto" else b""})()
        self._payload = payload

    async def json(self):
        return self._payload


class _RawFutures:
    async def retrieve(self, *, request, **_):
        _check(types.FutureRetrieveRequest, request)
        kind, payload = SERVICE.results.pop(request.request_id, ("error", "unknown request %s" % request.request_id))
        if kind == "error":
            return _RawResponse("json", {"error": payload, "category": "user"})
        return _RawResponse(kind, payload)


class _FuturesResource:
    with_raw_response = _RawFutures()


class _TelemetryResource:
    async def send(self, *args, **kwargs):
        return types.TelemetryResponse(status="accepted")


class StubTinker:
    """Stands where tinker._client.AsyncTinker would: same resources, no network."""

    def __init__(self, **_kwargs):
        self.service = _ServiceResource()
        self.models = _ModelsResource()
        self.training = _TrainingResource()
        self.weights = _WeightsResource()
        self.sampling = _SamplingResource()
        self.futures = _FuturesResource()
        self.telemetry = _TelemetryResource()

    async def post(self, path, *, body=None, cast_to=None, **_):
        if path == "/api/v1/weights_info":
            cp = SERVICE.checkpoints().get(body["tinker_path"])
            if cp is None:
                raise StubError("checkpoint %s not found" % body["tinker_path"])
            return cast_to.model_validate({"base_model": cp["base_model"], "is_lora": True, "lora_rank": cp["rank"]})
        raise StubError("the stub service has no endpoint %s" % path)

    async def delete(self, path, *, cast_to=None, **_):
        m = re.match(r"^/api/v1/training_runs/([^/]+)/checkpoints/(weights|sampler_weights)/([^/]+)$", path)
        if not m:
            raise StubError("the stub service has no endpoint DELETE %s" % path)
        tinker_path = "tinker://%s/%s/%s" % m.groups()
        if not SERVICE.forget(tinker_path):
            raise StubError("checkpoint %s not found" % tinker_path)
        return None

    def __getattr__(self, name):
        raise StubError("the stub service has no client attribute %r" % name)


def install():
    import tinker.lib.internal_client_holder as holder

    holder.AsyncTinker = StubTinker
