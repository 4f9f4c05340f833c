"""The keys of the web configuration file and their types, as pydantic models.

Only what a model can say is checked here: known keys, types, bcrypt hashes. What the keys
mean (TLS settings, headers, the rate limit) is checked by ``webconfig`` and ``tls``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)

from .yaml_loader import Problem, describe, problems_error


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _null_is_unset(cls, data: Any) -> Any:
        """`key:` with no value means the default, as in Go's YAML decoding."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


def _users(value: object) -> object:
    """user -> bcrypt hash. Problems name the user, never the value."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(
            f"expected a mapping of user names to bcrypt hashes, got {describe(value)}"
        )
    problems: list[Problem] = []
    for user, hashed in value.items():
        if not isinstance(user, str):
            problems.append(((str(user),), "user names must be strings"))
        elif ":" in user:
            problems.append(((user,), "user names cannot contain ':' (Basic auth splits there)"))
        elif not isinstance(hashed, str) or not _BCRYPT_HASH.fullmatch(hashed):
            problems.append(((user,), _NOT_A_HASH))
    if problems:
        raise problems_error(problems)
    return dict(value)


_BCRYPT_HASH = re.compile(r"\$2[abxy]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_NOT_A_HASH = (
    "not a bcrypt hash (value not shown); expected '$2y$10$' and 53 more characters, "
    "e.g. from: htpasswd -nBC 10 \"\" | tr -d ':\\n'"
)


class TLSServerConfig(_Model):
    cert: StrictStr = ""
    key: StrictStr = ""
    client_ca: StrictStr = ""
    cert_file: StrictStr = ""
    key_file: StrictStr = ""
    client_auth_type: StrictStr = ""
    client_ca_file: StrictStr = ""
    client_allowed_sans: list[StrictStr] | None = None
    min_version: StrictStr = "TLS12"
    max_version: StrictStr = "TLS13"
    cipher_suites: list[StrictStr] = []
    prefer_server_cipher_suites: StrictBool = True
    curve_preferences: list[StrictStr] = []


class HTTPServerConfig(_Model):
    http2: StrictBool | None = None
    headers: dict[str, StrictStr] = {}


class RateLimitConfig(_Model):
    interval: Any = 0
    burst: StrictInt = 0


class WebConfigFile(_Model):
    tls_server_config: TLSServerConfig = TLSServerConfig()
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    rate_limit: RateLimitConfig | None = None
    basic_auth_users: Annotated[dict[str, str], BeforeValidator(_users)] = {}
