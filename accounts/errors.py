from socialflow.lib.errors import DomainError


class AccountError(DomainError):
    """A refused account action (follow, sign-up, ban), with a message for the user."""
