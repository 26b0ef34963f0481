"""Fake tokenizers: one token per character (its code point), plus each family's
special tokens with their real ids, recognised as single tokens when they appear in
text (as Hugging Face tokenizers do). Imports nothing: the real-SDK run
(scripts/real-sdk/) loads this file by path to stand in for the Hugging Face downloads."""

LLAMA3_SPECIALS = {
    "<|begin_of_text|>": 128000,
    "<|end_of_text|>": 128001,
    "<|start_header_id|>": 128006,
    "<|end_header_id|>": 128007,
    "<|eot_id|>": 128009,
}
QWEN3_SPECIALS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<think>": 151667,
    "</think>": 151668,
}
# Qwen's think tags are added tokens but not "special": split_special_tokens leaves them whole.
_NEVER_SPLIT = {"<think>", "</think>"}


class FakeTokenizer:
    def __init__(self, name, specials, bos_token, eos_token):
        self.name_or_path = name
        self._specials = specials
        self._by_id = {v: k for k, v in specials.items()}
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.eos_token_id = specials.get(eos_token) if eos_token else None

    def encode(self, text, add_special_tokens=True, split_special_tokens=False, **_):
        if not isinstance(text, str):
            raise TypeError("encode() takes a string, got %s" % type(text).__name__)
        out = [self._specials[self.bos_token]] if add_special_tokens and self.bos_token else []
        i = 0
        names = sorted(self._specials, key=len, reverse=True)
        while i < len(text):
            for name in names:
                if text.startswith(name, i) and (not split_special_tokens or name in _NEVER_SPLIT):
                    out.append(self._specials[name])
                    i += len(name)
                    break
            else:
                out.append(ord(text[i]))
                i += 1
        return out

    def decode(self, tokens, skip_special_tokens=False, **_):
        parts = []
        for t in tokens:
            if not isinstance(t, int) or isinstance(t, bool):
                raise TypeError("decode() takes token ids, got %r" % (t,))
            if t in self._by_id:
                if not skip_special_tokens:
                    parts.append(self._by_id[t])
            elif 0 <= t < 0x110000:
                parts.append(chr(t))
            else:
                raise ValueError("token id %d is outside the fake vocabulary" % t)
        return "".join(parts)


LLAMA3_TOKENIZER = "thinkingmachineslabinc/meta-llama-3-instruct-tokenizer"


def tokenizer_for(model_name):
    """The tokenizer of a model id, or of the tokenizer id Tinker names for it."""
    if model_name.startswith("meta-llama/Llama-3") or model_name == LLAMA3_TOKENIZER:
        # The instruct tokenizer Tinker uses for every Llama 3 model (its EOS is <|eot_id|>).
        return FakeTokenizer(LLAMA3_TOKENIZER, LLAMA3_SPECIALS, "<|begin_of_text|>", "<|eot_id|>")
    if model_name.startswith("Qwen/Qwen3"):
        return FakeTokenizer(model_name, QWEN3_SPECIALS, None, "<|endoftext|>" if model_name.endswith("-Base") else "<|im_end|>")
    raise ValueError("the fake SDK has no tokenizer for %s" % model_name)
