"""The Tinker SDK and the cookbook as the worker uses them: the guarded import, the limits
and constants of the calls, retries, and conversions of what the SDK returns."""
import time

from worker_protocol import TRANSIENT, WorkerError, log

try:
    import tinker
    from tinker import types
    from tinker_cookbook import model_info, renderers
    IMPORT_ERROR = None
except Exception as e:  # noqa: BLE001 - reported to the client as a structured error
    IMPORT_ERROR = "%s: %s" % (type(e).__name__, e)
    # Never used: with IMPORT_ERROR set, every request is refused before a method runs.
    tinker = types = model_info = renderers = None

# Sequences a policy step re-reads after the update to measure how far it moved (a forward
# pass submitted right behind the optimizer step, so it lands on the step's clock cycle).
# tools/contracts/kl-probe.ts declares the same number for the harness's estimates (a test holds them equal).
KL_PROBE_SEQUENCES = 16
TIMEOUTS = {"open": 1800, "sample": 600, "train_supervised": 900, "eval_supervised": 900, "train_policy": 900, "save_state": 1500, "load_state": 1500, "delete_state": 600}
# Tokens of a GRPO sample call whose policy datums are built as their groups arrive (beyond
# it, at the step: a 16k-token batch kept as SDK objects would take gigabytes).
PREPARED_TOKENS = 1_500_000
# AdamParams fields a request may set; the rest keep the SDK's defaults (eps 1e-12, no weight decay, no clipping).
ADAM_FIELDS = ("learning_rate", "beta1", "beta2", "eps", "weight_decay", "grad_clip_norm")
# The server's summed loss, used when a server-side filter drops the per-token log-probs.
LOSS_SUM = "loss:sum"


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
    return list(map(float, tensor_like.tolist() if hasattr(tensor_like, "tolist") else tensor_like))


def ints(values):
    """Token ids as Python ints (ModelInput refuses floats and arrays)."""
    return [int(x) for x in values]


def recommended_renderer(base_model):
    try:
        return model_info.get_recommended_renderer_name(base_model)
    except Exception as e:  # noqa: BLE001 - the cookbook raises AttributeError, KeyError, ValueError or ConfigurationError
        raise WorkerError("unknown_model", "the cookbook has no renderer for %r (%s: %s); use a model `tinkerloop models` lists" % (base_model, type(e).__name__, e))


def usage(prefill=0, cached_prefill=0, sampled=0, trained=0):
    """Tokens one operation processed, by the meters the service bills (prefill, cached
    prefill, sampled, trained); an evaluation's forward pass is prefill."""
    return {"prefill": prefill, "cached_prefill": cached_prefill, "sampled": sampled, "trained": trained}


def input_tokens(datums):
    return sum(int(d.model_input.length) for d in datums)
