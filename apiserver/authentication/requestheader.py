"""Front-proxy authentication (`--requestheader-*`), as upstream's request-header authenticator: a request whose
client certificate verifies against `--requestheader-client-ca-file` (and whose CommonName is one of
`--requestheader-allowed-names`, when given) comes from the aggregator, which names the user it authenticated in
headers: the first non-empty `X-Remote-User`, every `X-Remote-Group`, and `X-Remote-Extra-<key>` for the extra
(the key lower-cased and URL-unescaped)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography.x509.oid import NameOID
from multidict import CIMultiDictProxy

from apiserver.authentication.authenticator import AuthenticationError
from apiserver.authentication.user import UserInfo
from apiserver.authentication.x509 import Verifier, peer_certificate

USERNAME_HEADERS = ("X-Remote-User",)
GROUP_HEADERS = ("X-Remote-Group",)
EXTRA_HEADER_PREFIXES = ("X-Remote-Extra-",)


@dataclass(frozen=True)
class RequestHeaderConfig:
    client_ca_file: str
    allowed_names: tuple[str, ...] = ()
    username_headers: tuple[str, ...] = USERNAME_HEADERS
    group_headers: tuple[str, ...] = GROUP_HEADERS
    extra_headers_prefixes: tuple[str, ...] = EXTRA_HEADER_PREFIXES


class RequestHeaderAuthenticator:
    def __init__(self, config: RequestHeaderConfig) -> None:
        self.config = config
        self.verifier = Verifier(Path(config.client_ca_file))
        self.prefixes = tuple(prefix.lower() for prefix in config.extra_headers_prefixes)

    def authenticate(self, request: web.Request) -> UserInfo | None:
        """The user the front proxy names; None without a client certificate or a user header; raises
        AuthenticationError for a certificate that is not the front proxy's."""
        der = peer_certificate(request)
        if not der:
            return None
        cert = self.verifier.verify(der)
        if self.config.allowed_names:
            names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            common_name = str(names[0].value) if names else ""
            if common_name not in self.config.allowed_names:
                raise AuthenticationError(f"x509: subject with cn={common_name} is not in the allowed list")
        headers = request.headers
        name = next((value for header in self.config.username_headers if (value := headers.get(header, ""))), "")
        if not name:
            return None
        groups = tuple(value for header in self.config.group_headers for value in headers.getall(header, ()) if value)
        return UserInfo(name, "", groups, self._extra(headers))

    def _extra(self, headers: CIMultiDictProxy[str]) -> dict[str, tuple[str, ...]]:
        extra: dict[str, tuple[str, ...]] = {}
        for header, value in headers.items():
            lowered = header.lower()
            for prefix in self.prefixes:
                if lowered.startswith(prefix):
                    key = _unescape(lowered[len(prefix):])
                    extra[key] = (*extra.get(key, ()), value)
        return extra


def _unescape(key: str) -> str:
    """Go's url.PathUnescape, keeping the key as it is if it does not unescape."""
    try:
        return urllib.parse.unquote(key, errors="strict")
    except UnicodeDecodeError:
        return key
