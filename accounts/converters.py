class UsernameConverter:
    """Only URL-plain usernames reach a view; anything else is a 404 before the database."""

    regex = "[A-Za-z0-9_]{1,30}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
