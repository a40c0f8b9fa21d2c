from django.core.validators import RegexValidator

# Usernames appear in URLs (/u/<username>/ and channel pages), so keep them URL-plain.
username_validators = [
    RegexValidator(
        r"^[A-Za-z0-9_]+\Z",
        "Use only letters, digits and underscores.",
        code="invalid_username",
    ),
]
