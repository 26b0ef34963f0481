"""The worker's sample method: every prompt submitted at once, each group kept as rollouts."""
import concurrent.futures
import time
from collections import deque

from worker_protocol import Streamed, WorkerError
from worker_rollouts import Rollout
from worker_sdk import PREPARED_TOKENS, TIMEOUTS, ints, resolve, types, usage, with_retries


class SamplingMethods:
    """Worker methods that sample (mixed into Worker, whose state they use)."""

    def sampling_client(self, s):
        if self.sampler is not None and self.sampler[0] == self.version:
            client = self.sampler[1]
            if isinstance(client, concurrent.futures.Future):
                try:
                    client = client.result(timeout=TIMEOUTS["open"])
                except Exception:  # noqa: BLE001 - saved again below
                    client = None
            if client is not None:
                self.sampler = (self.version, client)
                return client
        client = with_retries(lambda: s.training.save_weights_and_get_sampling_client(), "save_weights_and_get_sampling_client")
        self.sampler = (self.version, client)
        return client

    def sample(self, p):
        """Submits every prompt at once. With `as_completed`, each group is sent as soon as its
        completions are back, as {"index": prompt index, "group": [...]} (rewards can start on
        it); otherwise the groups go in prompt order. `keep` (off-policy overlap) keeps the
        batch for that many optimizer steps and leaves earlier batches alone."""
        s = self.need()
        user_stops = [x for x in (p.get("stop") or []) if isinstance(x, str) and x]
        # Token-id stops cannot be mixed with strings in one SamplingParams: the renderer's
        # stop goes to the sampler and the caller's strings are applied to the text here.
        stop = list(s.stops) if s.token_stops else list(dict.fromkeys(list(s.stops) + user_stops))
        params = types.SamplingParams(max_tokens=int(p["max_tokens"]), temperature=float(p["temperature"]), stop=stop, seed=p.get("seed"))
        keep = max(0, int(p.get("keep") or 0))
        as_completed = bool(p.get("as_completed"))
        # Rendered before waiting for the sampler (saved behind a step that may still be on its clock cycle).
        inputs = [s.prompt_input(text) for text in p["prompts"]]
        client = self.sampling_client(s)
        version = self.version
        batch = self.rollouts.new_batch(version, keep)
        n = int(p["n"])
        # Every request is in flight at once; each response is let go as soon as its group is kept and sent.
        pending = deque((k, mi, client.sample(prompt=mi, num_samples=n, sampling_params=params)) for k, mi in enumerate(inputs))
        used = usage()
        # Only a GRPO batch (as_completed) will be trained on; a plain sample (the sample tool) is read, not trained.
        budget = [PREPARED_TOKENS if as_completed else 0]

        def in_order():
            while pending:
                _k, mi, fut = pending.popleft()
                yield self.sampled_group(s, batch, ints(mi.to_ints()), fut, user_stops, n, used, budget)

        def by_completion():
            waiting = {fut: (k, mi) for k, mi, fut in pending}
            pending.clear()
            deadline = time.time() + TIMEOUTS["sample"]
            while waiting:
                done, _rest = concurrent.futures.wait(list(waiting), timeout=max(0.0, deadline - time.time()), return_when=concurrent.futures.FIRST_COMPLETED)
                if not done:
                    raise WorkerError("timeout", "sampling did not finish within %ss" % TIMEOUTS["sample"], retryable=True)
                for fut in sorted(done, key=lambda f: waiting[f][0]):
                    k, mi = waiting.pop(fut)
                    yield {"index": k, "group": self.sampled_group(s, batch, ints(mi.to_ints()), fut, user_stops, n, used, budget)}

        def dropped():
            self.rollouts.drop("the sample call that made them failed", batch)

        return Streamed("groups", by_completion() if as_completed else in_order(), lambda: {"usage": used, "version": version}, on_error=dropped)

    def sampled_group(self, s, batch, prompt, fut, user_stops, n, used, budget):
        """One prompt's completions, kept here; what crosses the pipe is ids, texts, finish
        reasons and counts. `used` gains the tokens the request was billed for: the prompt
        once (its prefix-cache hits at the cached rate), the other n-1 samples' shared
        prompt as cache hits (the SDK's SampleResponse.prompt_cache_hit_tokens), and every
        sampled token, a caller's stop string notwithstanding."""
        resp = resolve(fut, TIMEOUTS["sample"])
        hit = min(len(prompt), int(getattr(resp, "prompt_cache_hit_tokens", 0) or 0))
        used["prefill"] += len(prompt) - hit
        used["cached_prefill"] += hit + (n - 1) * len(prompt)
        group = []
        for seq in resp.sequences:
            tokens = ints(seq.tokens)
            used["sampled"] += len(tokens)
            if seq.logprobs is None or len(seq.logprobs) != len(tokens):
                raise WorkerError("bad_sample", "the sampler returned %s logprobs for %d tokens" % ("no" if seq.logprobs is None else len(seq.logprobs), len(tokens)))
            logprobs = [float(x) for x in seq.logprobs]
            text = s.text_of(tokens)
            finish = "stop" if seq.stop_reason == "stop" else "length"
            cut = s.cut_at_user_stop(tokens, logprobs, text, user_stops) if user_stops else None
            if cut is not None:
                tokens, logprobs, text = cut
                finish = "stop"
            rollout = Rollout(prompt, tokens, logprobs)
            if budget[0] >= len(prompt) + len(tokens) and tokens:
                budget[0] -= len(prompt) + len(tokens)
                rollout.parts = self.prepare(rollout)
            rid = self.rollouts.add(batch, rollout)
            group.append({"id": rid, "text": text, "finish_reason": finish, "tokens": len(tokens)})
        return group
