"""What sampled completions leave in the worker for a policy step: rollouts by id."""
import json
import secrets
import threading
from array import array

from worker_protocol import WorkerError


class Rollout:
    """What a sampled completion leaves here for a policy step (compact arrays: a 16k-token
    GRPO batch is a million tokens and as many log-probs)."""

    __slots__ = ("prompt", "tokens", "logprobs", "parts", "staged")

    def __init__(self, prompt, tokens, logprobs):
        self.prompt = prompt
        self.tokens = array("q", tokens)
        self.logprobs = array("d", logprobs)
        # The policy datum's parts that do not depend on the advantage, built while the rest
        # of the batch is still sampling (see PolicyMethods.prepare, worker_policy.py); None: built at the step.
        self.parts = None
        # (advantage, datum): the whole datum, built when its group's advantages were staged
        # (PolicyMethods.stage_advantages); used by a step that names the same advantage.
        self.staged = None


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

    def peek(self, rid):
        """The kept rollout for `rid`, left in place; None when it is not kept (the step says why)."""
        with self.lock:
            batch = self._batch_of(rid)
            b = self.batches.get(batch) if batch is not None else None
            return b["kept"].get(rid) if b is not None else None

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
