class StreamIdConverter:
    """Public stream ids: 12 letters and digits. Anything else is a 404 before the database."""

    regex = "[A-Za-z0-9]{12}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
