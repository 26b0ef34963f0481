"""The worker's session methods: open a model, save, load and delete checkpoints, close."""
from worker_protocol import WorkerError
from worker_sdk import TIMEOUTS, recommended_renderer, resolve, with_retries
from worker_session import Session


class StateMethods:
    """Worker methods that open, save, load and close the session (mixed into Worker)."""

    def open(self, p):
        base_model = p["base_model"]
        rank = int(p.get("rank", 32))
        renderer_name = p.get("renderer") or recommended_renderer(base_model)
        service = self.service_client()
        training = resolve(with_retries(lambda: service.create_lora_training_client(base_model=base_model, rank=rank), "create_lora_training_client"), TIMEOUTS["open"])
        self.session = Session(training, base_model, rank, renderer_name, context_length_of(service, base_model))
        self.weights_changed("the model was opened or loaded again")
        if p.get("schedule") in ("with_step", "serial"):
            self.schedule = p["schedule"]
        return self.session.card()

    def save_state(self, p):
        s = self.need()
        res = resolve(with_retries(lambda: s.training.save_state(p["name"]), "save_state"), TIMEOUTS["save_state"])
        path = getattr(res, "path", None) or getattr(res, "checkpoint_path", None)
        if not path:
            raise WorkerError("bad_response", "save_state returned no path")
        return {"path": path}

    def load_state(self, p):
        path = p["path"]
        service = self.service_client()
        # The checkpoint says which model it was made from; the caller's expectation (its
        # session, or its own record of the checkpoint) must agree before anything loads.
        info = resolve(with_retries(lambda: service.create_rest_client().get_weights_info_by_tinker_path(path), "get_weights_info_by_tinker_path"), TIMEOUTS["load_state"])
        made_from = info.base_model
        expected = p.get("base_model") or (self.session.base_model if self.session else None)
        if expected and made_from != expected:
            raise WorkerError("wrong_base_model", "checkpoint %s was made from %s, but this session trains %s; refusing to load it" % (path, made_from, expected))
        if self.session is not None:
            resolve(self.session.training.load_state_with_optimizer(path), TIMEOUTS["load_state"])
        else:
            renderer_name = p.get("renderer") or recommended_renderer(made_from)
            # 0.25 returns the TrainingClient itself; older SDKs returned a future (resolve accepts both).
            training = resolve(with_retries(lambda: service.create_training_client_from_state_with_optimizer(path), "create_training_client_from_state_with_optimizer"), TIMEOUTS["load_state"])
            restored = training.get_info()
            model_name = getattr(restored.model_data, "model_name", None) or made_from
            if model_name != made_from:
                raise WorkerError("wrong_base_model", "checkpoint %s restored as %s, but its weights info says %s" % (path, model_name, made_from))
            rank = int(getattr(restored, "lora_rank", None) or info.lora_rank or 0)
            self.session = Session(training, made_from, rank, renderer_name, context_length_of(service, made_from))
        self.weights_changed("the model was opened or loaded again")
        if p.get("schedule") in ("with_step", "serial"):
            self.schedule = p["schedule"]
        return {"path": path, **self.session.card()}

    def delete_state(self, p):
        path = p["path"]
        if not isinstance(path, str) or not path.startswith("tinker://"):
            raise WorkerError("bad_request", "delete_state needs a tinker:// path, got %r" % (path,))
        rest = self.service_client().create_rest_client()
        resolve(with_retries(lambda: rest.delete_checkpoint_from_tinker_path(path), "delete_checkpoint_from_tinker_path"), TIMEOUTS["delete_state"])
        return {"deleted": True}

    def close(self, _p):
        self.session = None
        self.weights_changed("the session was closed")
        return {"closed": True}


def context_length_of(service, base_model):
    """The model's context length as the service reports it (get_server_capabilities), or None
    when it does not say (the card then falls back to the harness's default)."""
    try:
        caps = with_retries(service.get_server_capabilities, "get_server_capabilities")
    except Exception:  # noqa: BLE001 - the length is a nicety; opening the model is what matters
        return None
    for m in getattr(caps, "supported_models", None) or []:
        length = getattr(m, "max_context_length", None)
        if getattr(m, "model_name", None) == base_model and isinstance(length, int) and not isinstance(length, bool) and length > 0:
            return length
    return None

