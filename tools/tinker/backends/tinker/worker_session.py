"""One open model in the worker: its training client, tokenizer, renderer and card."""
from worker_protocol import WorkerError
from worker_sdk import ints, renderers


# Rendered prompts a session remembers (a dataset's prompts for a GRPO call; past it, it starts over).
RENDERED = 4096


class Session:
    """One open model: never half-built (see worker.py's docstring)."""

    def __init__(self, training, base_model, rank, renderer_name, context_length=None):
        tokenizer = training.get_tokenizer()
        self.training = training
        self.context_length = context_length
        self.base_model = base_model
        self.rank = rank
        self.tokenizer = tokenizer
        self.renderer_name = renderer_name
        self.renderer = renderers.get_renderer(renderer_name, tokenizer)
        self.stops = list(self.renderer.get_stop_sequences())
        self.token_stops = bool(self.stops) and all(isinstance(s, int) for s in self.stops)
        self.rendered = {}

    def card(self):
        shown = [self.tokenizer.decode([s]) if isinstance(s, int) else s for s in self.stops]
        return {"base_model": self.base_model, "renderer": self.renderer_name, "stop": shown, "lora_rank": self.rank, "context_length": self.context_length}

    def prompt_input(self, prompt):
        """The prompt rendered for sampling, remembered (up to RENDERED prompts): a GRPO call
        samples the same prompts every iteration, and with overlap, rendering them again sat
        between one batch's last group and the next batch's first request."""
        found = self.rendered.get(prompt)
        if found is None:
            found = self.renderer.build_generation_prompt([{"role": "user", "content": prompt}])
            if len(self.rendered) >= RENDERED:
                self.rendered.clear()
            self.rendered[prompt] = found
        return found

    def text_of(self, tokens):
        try:
            message, termination = self.renderer.parse_response(tokens)
        except Exception as e:  # noqa: BLE001 - e.g. two stop tokens in one completion
            raise WorkerError("bad_sample", "the renderer could not parse a completion (%s: %s)" % (type(e).__name__, e))
        text = renderers.get_text_content(message)
        return text if termination.is_clean else without_thinking(text)

    def closed_text(self, tokens):
        """The text of a completion cut after `tokens`, as if the turn had ended there."""
        end = [self.stops[0]] if self.token_stops else ints(self.tokenizer.encode(self.stops[0], add_special_tokens=False)) if self.stops else []
        closed = tokens if end and tokens[-len(end):] == end else tokens + end
        try:
            message, _termination = self.renderer.parse_response(closed)
        except Exception:  # noqa: BLE001
            return ""
        return renderers.get_text_content(message)

    def cut_at_user_stop(self, tokens, logprobs, text, user_stops):
        """Applies the caller's stop strings the way a sampler would have: the completion
        ends at the first one in its text, which is cut before it, and keeps only the
        tokens up to the one that completed it. Returns None when no stop occurs."""
        hits = [(text.find(s), s) for s in user_stops if text.find(s) >= 0]
        if not hits:
            return None
        at, stop = min(hits)
        # The shortest token prefix whose text already holds the stop (text grows with the prefix).
        lo, hi = 1, len(tokens)
        if stop in self.closed_text(tokens[:hi]):
            while lo < hi:
                mid = (lo + hi) // 2
                if stop in self.closed_text(tokens[:mid]):
                    hi = mid
                else:
                    lo = mid + 1
        keep = hi
        return tokens[:keep], logprobs[:keep], text[:at]


def without_thinking(text):
    """The answer in a completion cut off before its turn ended (max_tokens): the renderer
    parses only a finished turn, so the raw text still holds a think block. What follows a
    closed block is the answer so far; a block still open (cut off while thinking) has no
    answer yet, so nothing from its open `<think>` on is the answer's."""
    at = text.find("<think>")
    if at < 0:
        return text
    end = text.find("</think>", at)
    if end < 0:
        return text[:at].rstrip()
    return text[:at] + text[end + len("</think>"):].lstrip("\n")

