"""One Daphne process as socialflow.web starts it: Daphne's own command line, with an access
log that never prints a secret from a query string. The media server's hooks carry
MEDIA_HOOK_SECRET there (nginx-rtmp cannot send headers), and a mobile app's socket its
token; Daphne's log line is the whole URL.

Daphne has no setting for its access-log format, so this swaps its generator class for one
that redacts, and runs Daphne's own entry point."""

from __future__ import annotations

import re

from daphne import access, cli

# The query parameters whose values are secrets: hook secrets, access tokens, stream keys.
SECRET_PARAMS = re.compile(r"([?&](?:secret|token|key|access|refresh|session)=)[^&\s\"]*", re.IGNORECASE)


def redact(request: str) -> str:
    return SECRET_PARAMS.sub(r"\1<redacted>", request)


class RedactingAccessLog(access.AccessLogGenerator):
    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        super().write_entry(host, date, redact(request), status, length, ident, user)


def main() -> None:
    cli.AccessLogGenerator = RedactingAccessLog  # type: ignore[misc]
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
