"""The scheduler's refusals of a request that is well formed: ``Conflict`` (the state of the
job or run forbids it: a 409 in the API) and ``NotFound`` (no such job or instance: a 404)."""


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass
