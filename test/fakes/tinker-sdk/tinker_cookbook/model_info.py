"""Fake cookbook model_info: the recommended renderers of the models the fake service
serves, refusing a missing or unknown model the way the real one does."""
from tinker_cookbook.exceptions import ConfigurationError

_RECOMMENDED = {
    "meta-llama/Llama-3.2-1B": ("role_colon",),
    "meta-llama/Llama-3.2-3B": ("role_colon",),
    "meta-llama/Llama-3.1-8B": ("role_colon",),
    "meta-llama/Llama-3.1-70B": ("role_colon",),
    "meta-llama/Llama-3.1-8B-Instruct": ("llama3",),
    "meta-llama/Llama-3.3-70B-Instruct": ("llama3",),
    "Qwen/Qwen3-8B": ("qwen3", "qwen3_disable_thinking"),
    "Qwen/Qwen3-32B": ("qwen3", "qwen3_disable_thinking"),
    "Qwen/Qwen3-30B-A3B": ("qwen3", "qwen3_disable_thinking"),
    "Qwen/Qwen3-8B-Base": ("role_colon",),
    "Qwen/Qwen3-30B-A3B-Base": ("role_colon",),
    "Qwen/Qwen3-4B-Instruct-2507": ("qwen3_instruct",),
    "Qwen/Qwen3-30B-A3B-Instruct-2507": ("qwen3_instruct",),
}


def get_recommended_renderer_names(model_name):
    model_name = model_name.split(":", 1)[0]  # AttributeError for None, as in the real one
    if "/" not in model_name:
        raise ValueError("Model name must be in 'org/model' format, got %r" % model_name)
    if model_name.split("/", 1)[0] not in ("meta-llama", "Qwen"):
        raise ConfigurationError("Unknown model: %s" % model_name)
    return list(_RECOMMENDED[model_name])  # KeyError for an unknown model of a known org


def get_recommended_renderer_name(model_name):
    return get_recommended_renderer_names(model_name)[0]
