"""The base of every app's domain exception (AccountError, StreamError, ...).

A domain error carries a message meant for the user and a stable machine code; the edges
(HTML views, the API, consumers, hooks) translate it into their own shape.
"""


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, code: str = "invalid", status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if status_code is not None:
            self.status_code = status_code
