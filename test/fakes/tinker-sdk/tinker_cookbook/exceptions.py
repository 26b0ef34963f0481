class TinkerCookbookError(Exception):
    pass


class ConfigurationError(TinkerCookbookError):
    pass


class RendererError(TinkerCookbookError):
    pass
