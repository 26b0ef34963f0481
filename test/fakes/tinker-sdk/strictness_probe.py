"""What a tinker SDK accepts and refuses, printed as JSON {case: "accepted" | "refused"}.

Run against the fake (npm test) and against the real tinker 0.25 source (npm run
test:real-sdk). Case names say what the REAL SDK does:
  refuse:   the real SDK refuses it; the fake must too
  accept:   the real SDK accepts it (a check that returns False counts as refused)
  stricter: the real SDK accepts it; the fake refuses it (being stricter is allowed)
"""
import concurrent.futures
import json
import sys

import tinker
from tinker import types
from tinker_cookbook import model_info, renderers

try:
    import numpy
except ImportError:  # the fake needs no numpy; the array cases are then left out
    numpy = None

MI = types.ModelInput.from_ints([1, 2, 3])
CASES = {
    "refuse:SamplingParams.stop mixing strings and token ids": lambda: types.SamplingParams(stop=["###", 128009]),
    "accept:SamplingParams.stop of token ids": lambda: types.SamplingParams(stop=[128009]).stop == [128009],
    "accept:SamplingParams.stop of strings": lambda: types.SamplingParams(stop=["a", "b"]).stop == ["a", "b"],
    "refuse:SamplingParams.max_tokens with a fraction": lambda: types.SamplingParams(max_tokens=3.5),
    "refuse:SamplingParams positional arguments": lambda: types.SamplingParams(3),
    "refuse:a token id with a fraction": lambda: types.ModelInput.from_ints([1.5]),
    "stricter:a float token id without a fraction": lambda: types.ModelInput.from_ints([1.0]),
    "stricter:a bool token id": lambda: types.ModelInput.from_ints([True]),
    "refuse:EncodedTextChunk positional tokens": lambda: types.EncodedTextChunk([1, 2]),
    "refuse:ModelInput unknown field": lambda: types.ModelInput(chunks=[], extra=1),
    "refuse:TensorData without dtype": lambda: types.TensorData(data=[1.0]),
    "refuse:TensorData with dtype float64": lambda: types.TensorData(data=[1.0], dtype="float64"),
    "refuse:Datum with an unknown list key": lambda: types.Datum(model_input=MI, loss_fn_inputs={"mask": [1.0, 0.0, 1.0]}),
    "refuse:Datum with a tuple value": lambda: types.Datum(model_input=MI, loss_fn_inputs={"weights": (1.0, 0.0, 1.0)}),
    "refuse:Datum with strings as weights": lambda: types.Datum(model_input=MI, loss_fn_inputs={"weights": ["a"]}),
    "stricter:Datum target_tokens with a fraction": lambda: types.Datum(model_input=MI, loss_fn_inputs={"target_tokens": [1.5, 2.0, 3.0]}),
    "accept:Datum converts lists by key": lambda: [types.Datum(model_input=MI, loss_fn_inputs={"target_tokens": [1, 2, 3], "weights": [1, 0, 1]}).loss_fn_inputs[k].dtype for k in ("target_tokens", "weights")] == ["int64", "float32"],
    "accept:Datum keeps TensorData under any key": lambda: types.Datum(model_input=MI, loss_fn_inputs={"mask": types.TensorData(data=[1.0], dtype="float32")}).loss_fn_inputs["mask"].dtype == "float32",
    "refuse:AdamParams unknown field": lambda: types.AdamParams(learning_rate=1e-4, momentum=0.9),
    "refuse:AdamParams positional arguments": lambda: types.AdamParams(1e-4),
    "accept:AdamParams eps defaults to 1e-12": lambda: types.AdamParams(learning_rate=1e-4).eps == 1e-12,
    "accept:AdamParams has weight_decay and grad_clip_norm": lambda: types.AdamParams(learning_rate=1e-4, weight_decay=0.01, grad_clip_norm=1.0).grad_clip_norm == 1.0,
    "refuse:recommended renderer of no model": lambda: model_info.get_recommended_renderer_name(None),
    "refuse:recommended renderer of an unknown model": lambda: model_info.get_recommended_renderer_name("Qwen/Qwen9-1B"),
    "accept:recommended renderer of Qwen/Qwen3-8B is qwen3": lambda: model_info.get_recommended_renderer_name("Qwen/Qwen3-8B") == "qwen3",
}
if numpy is not None:
    CASES["refuse:a numpy array as token ids"] = lambda: types.ModelInput.from_ints(numpy.array([1, 2]))
    CASES["stricter:a numpy int as a token id"] = lambda: types.ModelInput.from_ints([numpy.int64(3)])


def client_cases():
    """Cases that need a service (the fake one, or the real SDK over a stubbed network)."""
    service = tinker.ServiceClient()
    training = service.create_lora_training_client(base_model="meta-llama/Llama-3.1-8B-Instruct", rank=4)
    tok = training.get_tokenizer()
    renderer = renderers.get_renderer("llama3", tok)
    stop = renderer.get_stop_sequences()
    parsed = renderer.parse_response(tok.encode("4", add_special_tokens=False) + [stop[0]])
    path = training.save_state("probe").result().path
    restored = service.create_training_client_from_state_with_optimizer(path)
    _model_input, weights = renderer.build_supervised_example([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}])
    sampler = training.save_weights_and_get_sampling_client()
    sampled = sampler.sample(prompt=types.ModelInput.from_ints(tok.encode("Hi", add_special_tokens=False)), num_samples=1, sampling_params=types.SamplingParams(max_tokens=4, stop=list(stop)))
    return {
        "accept:llama3 stops are token ids": lambda: all(isinstance(s, int) for s in stop),
        "accept:parse_response gives (Message, ParseTermination)": lambda: isinstance(parsed, tuple) and len(parsed) == 2 and not isinstance(parsed[1], bool) and parsed[0]["content"] == "4",
        "accept:restoring with the optimizer returns a TrainingClient": lambda: hasattr(restored, "forward_backward") and not hasattr(restored, "result"),
        "accept:supervised weights are a tensor, not a list": lambda: not isinstance(weights, list) and hasattr(weights, "tolist"),
        "accept:get_info names the model": lambda: training.get_info().model_data.model_name == "meta-llama/Llama-3.1-8B-Instruct",
        # The worker streams groups in the order they complete by waiting on these futures together.
        "accept:sample returns a concurrent.futures.Future": lambda: isinstance(sampled, concurrent.futures.Future)
        and len(concurrent.futures.wait([sampled], timeout=60).done) == 1,
    }


def verdict(fn):
    try:
        return "accepted" if fn() is not False else "refused"
    except Exception:  # noqa: BLE001 - any refusal counts
        return "refused"


if __name__ == "__main__":
    CASES.update(client_cases())
    json.dump({name: verdict(fn) for name, fn in CASES.items()}, sys.stdout, indent=1)
    sys.stdout.write("\n")
