from fake_tokenizers import tokenizer_for


class AutoTokenizer:
    @staticmethod
    def from_pretrained(name, **_kwargs):
        return tokenizer_for(name)
