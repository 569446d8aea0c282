"""Bearer tokens mapped to operator names: parsing, the 0600 token file, and checking a request.

Tokens come from `RUNREPLAY_TOKENS=alice:TOKEN,bob:TOKEN`, from a token file (one
`operator:token` per line, `#` comments), or are generated once by `runreplay serve`. A
token is compared in constant time and never logged, printed in an error or echoed back.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runreplay.errors import RunReplayError
from runreplay.server.errors import ApiProblem

TOKENS_ENV = "RUNREPLAY_TOKENS"
DEFAULT_OPERATOR = "operator"
_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_TOKEN = re.compile(r"[\x21-\x7e]{8,512}")  # visible ASCII: it travels in a header


def parse_tokens(text: str, where: str = TOKENS_ENV) -> dict[str, str]:
    """Parse `alice:TOKEN,bob:TOKEN` (commas or new lines; `#` starts a comment).

    Returns {operator: token}. Raises RunReplayError naming `where` and the bad entry
    (by position, never by its token).
    """
    tokens: dict[str, str] = {}
    entries = [
        entry.strip() for line in text.splitlines() for entry in line.split("#", 1)[0].split(",")
    ]
    for number, entry in enumerate((entry for entry in entries if entry), start=1):
        operator, colon, token = entry.partition(":")
        operator, token = operator.strip(), token.strip()
        if not colon or not _OPERATOR.fullmatch(operator):
            raise RunReplayError(
                f"{where}: entry {number} is not 'operator:token' (operator names use letters, "
                "digits and . _ @ -)"
            )
        if not _TOKEN.fullmatch(token):
            raise RunReplayError(
                f"{where}: the token of {operator!r} must be 8 to 512 visible ASCII characters "
                "without spaces"
            )
        tokens[operator] = token
    return tokens


def read_token_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a token file (`operator:token` per line); raises RunReplayError when unreadable."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise RunReplayError(
            f"cannot read token file {str(path)!r}: {error.strerror}; create it with lines "
            "'operator:token', or leave --token-file out to have one generated"
        ) from None
    tokens = parse_tokens(text, str(path))
    if not tokens:
        raise RunReplayError(f"token file {str(path)!r} holds no 'operator:token' line")
    return tokens


def is_private(path: str | os.PathLike) -> bool:
    """True when only the file's owner can read it (mode 0600 or stricter)."""
    return not Path(path).stat().st_mode & 0o077


def write_generated_token(path: str | os.PathLike, operator: str = DEFAULT_OPERATOR) -> str:
    """Create a token file readable by its owner only (0600) holding a new token; return it."""
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(f"# runreplay server token, generated; keep it private\n{operator}:{token}\n")
    return token


@dataclass(frozen=True)
class TokenSource:
    """Where the server's tokens came from; `generated` holds a token made just now."""

    tokens: dict[str, str]
    description: str
    generated: str | None = None
    path: Path | None = None

    def __repr__(self) -> str:
        return f"<TokenSource {self.description}: {len(self.tokens)} operator(s)>"


def resolve_tokens(
    token_file: str | os.PathLike | None,
    db_path: str | os.PathLike,
    environ: Mapping[str, str] = os.environ,
) -> TokenSource:
    """The tokens `runreplay serve` uses: --token-file, else RUNREPLAY_TOKENS, else
    `<db>.tokens` next to the database, generated (0600) on the first start."""
    if token_file is not None:
        return TokenSource(
            read_token_file(token_file), f"token file {token_file}", None, Path(token_file)
        )
    if environ.get(TOKENS_ENV):
        return TokenSource(parse_tokens(environ[TOKENS_ENV]), TOKENS_ENV)
    path = Path(f"{os.fspath(db_path)}.tokens")
    if path.exists():
        return TokenSource(read_token_file(path), f"token file {path}", None, path)
    token = write_generated_token(path)
    return TokenSource({DEFAULT_OPERATOR: token}, f"token file {path}", token, path)


class Authenticator:
    """Maps a request's `Authorization: Bearer TOKEN` header to an operator name."""

    def __init__(self, tokens: Mapping[str, str]):
        if not tokens:
            raise RunReplayError(
                "the server needs at least one operator token: set RUNREPLAY_TOKENS=name:token, "
                "pass a token file, or let `runreplay serve` generate one"
            )
        parse_tokens(",".join(f"{operator}:{token}" for operator, token in tokens.items()))
        by_token: dict[bytes, str] = {}
        for operator, token in tokens.items():
            key = token.encode()
            if key in by_token:
                raise RunReplayError(
                    f"operators {by_token[key]!r} and {operator!r} share a token; give each "
                    "operator its own"
                )
            by_token[key] = operator
        self._tokens = list(by_token.items())

    def __repr__(self) -> str:
        return f"<Authenticator {len(self._tokens)} operator(s)>"

    def operator_for(self, authorization: str | None) -> str:
        """The operator the header's token belongs to; ApiProblem 401 otherwise."""
        if not authorization:
            raise _unauthorized("this route needs 'Authorization: Bearer <token>'")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        presented = credentials.strip().encode()
        operator = None
        for token, name in self._tokens:  # check every token: timing says nothing about which
            if hmac.compare_digest(presented, token):
                operator = name
        if operator is None:
            raise _unauthorized("the bearer token is not known to this server")
        return operator


def _unauthorized(message: str) -> ApiProblem:
    return ApiProblem(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})
