from socialflow.lib.errors import DomainError


class StreamError(DomainError):
    """A refused streaming action (go live, edit, end), with a message for the user."""
