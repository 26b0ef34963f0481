"""The worker's policy steps on kept rollouts: a whole step (train_policy) or a streamed
one (forward_backward per minibatch, then optim_step), with the KL probe behind the update."""
import math
from itertools import repeat
from operator import mul, sub

from worker_protocol import Later, WorkerError
from worker_sdk import KL_PROBE_SEQUENCES, LOSS_SUM, TIMEOUTS, floats, input_tokens, resolve, types, usage


class PolicyMethods:
    """Worker methods for policy steps (mixed into Worker, whose state they use)."""

    @staticmethod
    def prepare(k):
        """The importance-sampling datum's input and its target and old log-prob rows: the
        prompt (less its last token) padded with zeros, then the completion."""
        prompt, toks, lps = list(k.prompt), list(k.tokens), list(k.logprobs)
        pad = len(prompt) - 1
        return (
            types.ModelInput.from_ints(prompt + toks[:-1]),
            types.TensorData(data=[0] * pad + toks, dtype="int64"),
            types.TensorData(data=[0.0] * pad + lps, dtype="float32"),
        )

    def datum(self, k, adv):
        """A rollout's importance-sampling datum with its advantage on every completion token."""
        model_input, targets, old = k.parts or self.prepare(k)
        pad = len(k.prompt) - 1
        return types.Datum(
            model_input=model_input,
            loss_fn_inputs={"target_tokens": targets, "logprobs": old, "advantages": [0.0] * pad + [adv] * len(k.tokens)},
        )

    def policy_datums(self, chosen, kept):
        datums, spans = [], []
        for r, (k, _stale) in zip(chosen, kept):
            if len(k.tokens) < 1:
                raise WorkerError("bad_rollout", "rollout %s has no tokens" % r["id"])
            adv = float(r["advantage"])
            staged = k.staged
            datums.append(staged[1] if staged is not None and staged[0] == adv else self.datum(k, adv))
            spans.append((len(k.prompt) - 1, k.logprobs, adv))
        return datums, spans

    def stage_advantages(self, p):
        """Advantages of groups scored before their step (sent as each group is scored): each
        kept rollout's whole datum is built now, while the rest of the batch samples, instead
        of on the step's critical path. Only a cache: the step still names every id and
        advantage, and a staged datum is used only for the advantage it was built with.
        Within the prepared-token budget only (rollouts whose parts were built as they arrived)."""
        staged = 0
        for r in p.get("rollouts") or []:
            k = self.rollouts.peek(r.get("id"))
            if k is None or k.parts is None:
                continue
            adv = float(r["advantage"])
            k.staged = (adv, self.datum(k, adv))
            staged += 1
        return {"staged": staged}

    @staticmethod
    def staleness(kept):
        stale = [st for _k, st in kept]
        return {"max": max(stale) if stale else 0, "mean": sum(stale) / len(stale) if stale else 0.0}

    def policy_figures(self, spans, out, count):
        """Loss and KL (sampler vs learner before the step) from a forward-backward's output."""
        learner = self.per_token_logprobs(out)
        if learner is None:
            # A server-side filter dropped the per-token outputs: no KL; the summed loss if the service sent it.
            loss_sum = (out.metrics or {}).get(LOSS_SUM)
            return {"loss": None if loss_sum is None else float(loss_sum) / max(1, count), "kl": None, "kl_squared": None}
        # Element-wise in C (map, running sums) rather than a Python loop: this runs after the
        # step's last cycle, on the critical path of the iteration. With e = learner - sampler,
        # the sum of (sampler - learner) is minus the sum of e, and half a sum of squares the sum
        # of halves, exactly: the figures are the per-token loop's.
        back = squares = objective = 0.0
        n = 0
        for (pad, old, adv), row in zip(spans, learner):
            e = list(map(sub, row[pad:pad + len(old)], old))
            n += len(e)
            back = sum(e, back)
            squares = sum(map(mul, e, e), squares)
            objective = sum(map(mul, map(math.exp, e), repeat(adv, len(e))), objective)
        n = max(1, n)
        return {"loss": -objective / max(1, count), "kl": (0.0 - back) / n, "kl_squared": 0.5 * squares / n}

    def submit_probe(self, s, taken, used):
        """The KL probe's forward pass over the first few of the step's sequences (`taken`:
        (datum, span, forward-backward future, row) each). Submitted right behind the
        optimizer step, it lands on the step's clock cycle (requests run in order, so it
        reads the updated weights) and costs no cycle of its own."""
        probe = taken[:KL_PROBE_SEQUENCES]
        datums = [d for d, _span, _fb, _row in probe]
        used["prefill"] += input_tokens(datums)
        return (s.training.forward(datums, loss_fn="importance_sampling"), probe)

    def read_probe(self, probe):
        """How far this step moved the policy: mean(learner before the step - learner after) log-prob
        over the probe's completion tokens (None when the service sends no per-token outputs).
        The learner before the step is what its forward-backward read, so the figure is the
        step's own move even when the rollouts were sampled steps earlier (off-policy overlap),
        where sampler minus learner after would add the lag; on-policy the two agree."""
        fut, taken = probe
        after = self.per_token_logprobs(resolve(fut, TIMEOUTS["train_policy"]))
        if after is None:
            return None
        diffs, read = [], {}
        for (_d, (pad, old, _adv), fb, row), now in zip(taken, after):
            if id(fb) not in read:
                # Unconverted: only the probe's few rows of the forward-backward are read.
                read[id(fb)] = self.logprob_tensors(resolve(fb, TIMEOUTS["train_policy"]))
            before = read[id(fb)]
            if before is None:
                return None
            diffs += map(sub, floats(before[row])[pad:pad + len(old)], now[pad:pad + len(old)])
        return sum(diffs) / len(diffs) if diffs else None

    def train_policy(self, p):
        """One whole policy step: forward-backward on the rollouts, the optimizer step and the
        KL probe, submitted together."""
        s = self.need()
        chosen = p["rollouts"]
        kept = self.rollouts.take([r.get("id") for r in chosen], self.version, int(p.get("max_steps_off_policy") or 0))
        datums, spans = self.policy_datums(chosen, kept)
        count = sum(len(old) for _pad, old, _adv in spans)
        used = usage(trained=input_tokens(datums))
        fb = s.training.forward_backward(datums, loss_fn="importance_sampling")
        if self.schedule == "serial":
            opt = s.training.optim_step(self.adam(p))
            self.stepped(s)
            out = resolve(fb, TIMEOUTS["train_policy"])
            resolve(opt, TIMEOUTS["train_policy"])
            figures = self.policy_figures(spans, out, count)
            taken = [(d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans))]
            kl_after = self.read_probe(self.submit_probe(s, taken, used)) if figures["kl"] is not None else None
            return {**figures, "kl_after": kl_after, "tokens": count, "usage": used, "staleness": self.staleness(kept), "version": self.version}
        opt = s.training.optim_step(self.adam(p))
        probe = self.submit_probe(s, [(d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans))], used)
        self.stepped(s)
        version = self.version

        def finish():
            out = resolve(fb, TIMEOUTS["train_policy"])
            resolve(opt, TIMEOUTS["train_policy"])
            figures = self.policy_figures(spans, out, count)
            kl_after = self.read_probe(probe) if figures["kl"] is not None else None
            return {**figures, "kl_after": kl_after, "tokens": count, "usage": used, "staleness": self.staleness(kept), "version": version}

        return Later(finish)

    def forward_backward(self, p):
        """One minibatch of a streamed policy step: forward-backward on these rollouts (they
        leave their batch; the rest stay), no optimizer step. Answers once the service has."""
        s = self.need()
        chosen = p["rollouts"]
        kept = self.rollouts.take([r.get("id") for r in chosen], self.version, int(p.get("max_steps_off_policy") or 0), consume=False)
        datums, spans = self.policy_datums(chosen, kept)
        count = sum(len(old) for _pad, old, _adv in spans)
        fb = s.training.forward_backward(datums, loss_fn="importance_sampling")
        self.step_datums.extend((d, span, fb, k) for k, (d, span) in enumerate(zip(datums, spans)))
        version = self.version

        def finish():
            figures = self.policy_figures(spans, resolve(fb, TIMEOUTS["train_policy"]), count)
            return {**figures, "tokens": count, "usage": usage(trained=input_tokens(datums)), "staleness": self.staleness(kept), "version": version}

        return Later(finish)

    def optim_step(self, p):
        """The optimizer step after a streamed step's minibatches, with the KL probe behind it
        on the same cycle (over the first minibatch's sequences)."""
        s = self.need()
        if not self.step_datums:
            raise WorkerError("bad_request", "optim_step needs a forward_backward since the last optimizer step")
        taken = self.step_datums
        opt = s.training.optim_step(self.adam(p))
        used = usage()
        probe = self.submit_probe(s, taken, used) if p.get("kl_probe", True) else None
        self.stepped(s)
        version = self.version

        def finish():
            resolve(opt, TIMEOUTS["train_policy"])
            return {"kl_after": self.read_probe(probe) if probe else None, "usage": used, "version": version}

        return Later(finish)
