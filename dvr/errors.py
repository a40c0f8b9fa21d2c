from socialflow.lib.errors import DomainError


class DvrError(DomainError):
    """A refused action on a recording or a clip, with a message for the user."""
