"""Fake cookbook renderers: only `role_colon`, the base-model format."""
from tinker import types


class RoleColonRenderer:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def build_generation_prompt(self, messages, role="assistant", prefill=None):
        text = "".join("%s: %s\n\n" % (m["role"].capitalize(), m["content"]) for m in messages) + "Assistant:"
        return types.ModelInput.from_ints(self.tokenizer.encode(text))

    def build_supervised_example(self, messages, train_on_what=None):
        prompt = self.build_generation_prompt(messages[:-1]).to_ints()
        answer = self.tokenizer.encode(" " + messages[-1]["content"] + "\n\nUser:")
        return types.ModelInput.from_ints(prompt + answer), [0.0] * len(prompt) + [1.0] * len(answer)

    def get_stop_sequences(self):
        return ["\n\nUser:"]

    def parse_response(self, tokens):
        text = self.tokenizer.decode(tokens)
        ok = text.endswith("\n\nUser:")
        if ok:
            text = text[: -len("\n\nUser:")]
        return {"role": "assistant", "content": text.strip()}, ok


def get_renderer(name, tokenizer, image_processor=None):
    if name != "role_colon":
        raise ValueError("the fake cookbook only has role_colon, not %s" % name)
    return RoleColonRenderer(tokenizer)


def get_text_content(message):
    return message["content"]
