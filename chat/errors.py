from socialflow.lib.errors import DomainError


class ChatError(DomainError):
    """A refused chat action, with a message for the user and a code for the client."""
