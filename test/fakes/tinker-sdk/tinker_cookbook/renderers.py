"""Fake cookbook renderers: role_colon (string stop), and llama3-like and qwen3-like chat
formats whose stop is a token id, with the real ones' signatures and return types:
`build_supervised_example` gives weights as a tensor-like (not a list),
`parse_response` gives `(Message, ParseTermination)`."""
from enum import Enum

from tinker import types
from tinker_cookbook.exceptions import RendererError


class ParseTermination(str, Enum):
    STOP_SEQUENCE = "stop_sequence"
    EOS = "eos"
    MALFORMED = "malformed"

    @property
    def is_clean(self):
        return self != ParseTermination.MALFORMED


class WeightsTensor:
    """Stands in for the torch.Tensor the real renderers return: not a list, has tolist()."""

    def __init__(self, values):
        self._values = [float(v) for v in values]

    def tolist(self):
        return list(self._values)

    def __len__(self):
        return len(self._values)


def get_text_content(message):
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(p["text"] for p in content if p["type"] == "text")


def _chunk(tokens):
    return types.EncodedTextChunk(tokens=tokens)


class _Renderer:
    """The cookbook's default build_* logic over header/output/stop-overlap pieces."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def _enc(self, text, **kw):
        return self.tokenizer.encode(text, add_special_tokens=False, **kw)

    def _bos(self):
        return []

    def _pieces(self, message, idx, produced):
        """(header tokens, output tokens, stop-overlap tokens) of one message."""
        raise NotImplementedError

    def build_generation_prompt(self, messages, role="assistant", prefill=None):
        chunks = [_chunk(self._bos())] if self._bos() else []
        for idx, m in enumerate(messages):
            header, output, _ = self._pieces(m, idx, False)
            chunks += [_chunk(header), _chunk(output)]
        header, _, _ = self._pieces({"role": role, "content": ""}, len(messages), False)
        chunks.append(_chunk(header))
        if prefill:
            chunks.append(_chunk(self._enc(prefill)))
        return types.ModelInput(chunks=chunks)

    def build_supervised_example(self, messages, train_on_what="last_assistant_message"):
        tokens, weights = list(self._bos()), [0.0] * len(self._bos())
        for idx, m in enumerate(messages):
            last = idx == len(messages) - 1
            header, output, overlap = self._pieces(m, idx, last and m["role"] == "assistant")
            w = 1.0 if last and m["role"] == "assistant" else 0.0
            tokens += header + output + (overlap if last else [])
            weights += [0.0] * len(header) + [w] * (len(output) + (len(overlap) if last else 0))
        return types.ModelInput(chunks=[_chunk(tokens)]), WeightsTensor(weights)


def _parse_for_stop_token(tokenizer, response, stop_token):
    count = response.count(stop_token)
    if count == 0:
        return {"role": "assistant", "content": tokenizer.decode(response)}, ParseTermination.MALFORMED
    if count == 1:
        return {"role": "assistant", "content": tokenizer.decode(response[: response.index(stop_token)])}, ParseTermination.STOP_SEQUENCE
    raise RendererError("When parsing response, expected to split into 1 or 2 pieces using stop tokens, but got %d." % count)


class RoleColonRenderer(_Renderer):
    def _bos(self):
        return self._enc(self.tokenizer.bos_token) if self.tokenizer.bos_token else []

    def _pieces(self, message, idx, produced):
        header = self._enc(message["role"].capitalize() + ":")
        output = self._enc(" " + message["content"] + "\n\n")
        overlap = self._enc("User:") if message["role"] == "assistant" else []
        return header, output, overlap

    def get_stop_sequences(self):
        return ["\n\nUser:"]

    def parse_response(self, response):
        eos = self.tokenizer.eos_token_id
        with_eos = bool(response) and eos is not None and response[-1] == eos
        if with_eos:
            response = response[:-1]
        pieces = self.tokenizer.decode(response).split("\n\nUser:")
        content = pieces[0]
        content = content[1:] if content.startswith(" ") else content
        content = content[:-2] if content.endswith("\n\n") else content
        message = {"role": "assistant", "content": content}
        if len(pieces) == 2 and not with_eos:
            return message, ParseTermination.STOP_SEQUENCE
        if len(pieces) == 1 and with_eos:
            return message, ParseTermination.EOS
        return message, ParseTermination.MALFORMED


class Llama3Renderer(_Renderer):
    def _bos(self):
        return self._enc("<|begin_of_text|>")

    def _end(self):
        (token,) = self._enc("<|eot_id|>")
        return token

    def _pieces(self, message, idx, produced):
        header = self._enc("<|start_header_id|>%s<|end_header_id|>\n\n" % message["role"])
        return header, self._enc(message["content"] + "<|eot_id|>"), []

    def get_stop_sequences(self):
        return [self._end()]

    def parse_response(self, response):
        return _parse_for_stop_token(self.tokenizer, response, self._end())


class Qwen3Renderer(_Renderer):
    """qwen3 (thinking): the produced turn is framed with a think block; the parse splits it off."""

    frames_thinking = True

    def _end(self):
        (token,) = self._enc("<|im_end|>")
        return token

    def _pieces(self, message, idx, produced):
        header = self._enc("%s<|im_start|>%s\n" % ("\n" if idx > 0 else "", message["role"]))
        content = message["content"]
        if produced and self.frames_thinking and "</think>" not in content:
            content = "<think>\n\n</think>\n\n" + content
        return header, self._enc(content, split_special_tokens=True) + [self._end()], []

    def get_stop_sequences(self):
        return [self._end()]

    def parse_response(self, response):
        message, termination = _parse_for_stop_token(self.tokenizer, response, self._end())
        if not termination.is_clean:
            return message, termination
        content = message["content"]
        if "<think>" in content and "</think>" in content:
            before, _, rest = content.partition("<think>")
            thinking, _, text = rest.partition("</think>")
            parts = ([{"type": "text", "text": before}] if before else []) + [{"type": "thinking", "thinking": thinking.strip("\n")}, {"type": "text", "text": text.lstrip("\n")}]
            message["content"] = parts
        return message, termination


class Qwen3InstructRenderer(Qwen3Renderer):
    frames_thinking = False


_RENDERERS = {
    "role_colon": RoleColonRenderer,
    "llama3": Llama3Renderer,
    "qwen3": Qwen3Renderer,
    "qwen3_instruct": Qwen3InstructRenderer,
}


def get_renderer(name, tokenizer, image_processor=None, model_name=None):
    cls = _RENDERERS.get(name)
    if cls is None:
        raise RendererError("Unknown renderer: %s (the fake cookbook has %s)" % (name, ", ".join(sorted(_RENDERERS))))
    return cls(tokenizer)
