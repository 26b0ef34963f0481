"""Stands in for Hugging Face transformers in the real-SDK run: the SDK and the cookbook
import it, and would download tokenizers with it. Tokenizers come from the test fake's
tokenizers (one token per character, real special-token ids), so nothing is downloaded."""
__version__ = "4.57.6"


class PreTrainedTokenizer:
    pass
