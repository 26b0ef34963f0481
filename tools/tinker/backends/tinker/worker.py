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

The worker's parts, beside this file: worker_protocol (the lines on stdio), worker_sdk (the
SDK import, limits, retries), worker_rollouts (RolloutStore), worker_session (Session),
and the methods by job, mixed into Worker: worker_state (open, save, load, delete, close),
worker_sampling (sample), worker_supervised (SFT steps), worker_policy (policy steps).
"""
import concurrent.futures
import os
import sys
import threading

# The sibling modules below, also when a launcher runs this file with runpy (which does not
# put the script's directory on sys.path).
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# First: it moves stdout aside before the SDK is imported.
from worker_protocol import Later, Streamed, WorkerError, emit, error_line, failure_line, finish_later, read_request  # noqa: E402
from worker_policy import PolicyMethods  # noqa: E402
from worker_rollouts import RolloutStore  # noqa: E402
from worker_sampling import SamplingMethods  # noqa: E402
from worker_sdk import ADAM_FIELDS, IMPORT_ERROR, floats, tinker, types, with_retries  # noqa: E402
from worker_state import StateMethods  # noqa: E402
from worker_supervised import SupervisedMethods  # noqa: E402


class Worker(StateMethods, SamplingMethods, SupervisedMethods, PolicyMethods):
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

    @staticmethod
    def logprob_tensors(output):
        """Each datum's learner log-probs as the service sent them (unconverted), or None when it sent none."""
        outs = [o.get("logprobs") if hasattr(o, "get") else None for o in output.loss_fn_outputs]
        if len(outs) == 0 or any(o is None for o in outs):
            return None
        return outs

    @classmethod
    def per_token_logprobs(cls, output):
        """Each datum's learner log-probs, or None when the service sent none back."""
        outs = cls.logprob_tensors(output)
        return None if outs is None else [floats(o) for o in outs]

    def adam(self, p):
        given = {k: float(p[k]) for k in ADAM_FIELDS if p.get(k) is not None}
        if "learning_rate" not in given:
            raise WorkerError("bad_request", "a training step needs learning_rate")
        return types.AdamParams(**given)


METHODS = ("open", "sample", "train_supervised", "eval_supervised", "train_policy", "stage_advantages", "forward_backward", "optim_step", "save_state", "load_state", "delete_state", "close")


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
