"""The worker's supervised steps: examples rendered to datums, trained or evaluated."""
from worker_protocol import WorkerError
from worker_sdk import LOSS_SUM, TIMEOUTS, floats, input_tokens, ints, resolve, types, usage


class SupervisedMethods:
    """Worker methods for supervised training and evaluation (mixed into Worker)."""

    def supervised_datums(self, s, examples):
        datums = []
        for ex in examples:
            messages = [{"role": "user", "content": ex["prompt"]}, {"role": "assistant", "content": ex["response"]}]
            model_input, weights = s.renderer.build_supervised_example(messages)
            tokens = ints(model_input.to_ints())
            w = floats(weights)
            if len(tokens) < 2 or len(tokens) != len(w):
                raise WorkerError("bad_example", "an example rendered to %d tokens and %d weights" % (len(tokens), len(w)))
            datums.append(types.Datum(
                model_input=types.ModelInput.from_ints(tokens[:-1]),
                loss_fn_inputs={"target_tokens": tokens[1:], "weights": w[1:]},
            ))
        return datums

    def weighted_nll(self, datums, output, what):
        weight = sum(sum(floats(d.loss_fn_inputs["weights"])) for d in datums)
        lps = self.per_token_logprobs(output)
        if lps is not None:
            total = sum(-sum(lp * w for lp, w in zip(lp_row, floats(d.loss_fn_inputs["weights"]))) for d, lp_row in zip(datums, lps))
        elif LOSS_SUM in (output.metrics or {}):
            total = float(output.metrics[LOSS_SUM])
        else:
            raise WorkerError("no_logprobs", "the service returned neither per-token log-probs nor a %s metric for %s, so its loss cannot be read%s" % (LOSS_SUM, what, " (the optimizer step was applied)" if what == "train_supervised" else ""))
        return (total / weight if weight > 0 else 0.0), int(weight)

    def train_supervised(self, p):
        s = self.need()
        datums = self.supervised_datums(s, p["examples"])
        fb = s.training.forward_backward(datums, loss_fn="cross_entropy")
        opt = s.training.optim_step(self.adam(p))
        self.weights_changed("a training step changed the weights")
        out = resolve(fb, TIMEOUTS["train_supervised"])
        resolve(opt, TIMEOUTS["train_supervised"])
        loss, tokens = self.weighted_nll(datums, out, "train_supervised")
        return {"loss": loss, "tokens": tokens, "usage": usage(trained=input_tokens(datums))}

    def eval_supervised(self, p):
        s = self.need()
        datums = self.supervised_datums(s, p["examples"])
        out = resolve(s.training.forward(datums, loss_fn="cross_entropy"), TIMEOUTS["eval_supervised"])
        loss, tokens = self.weighted_nll(datums, out, "eval_supervised")
        return {"loss": loss, "tokens": tokens, "usage": usage(prefill=input_tokens(datums))}
