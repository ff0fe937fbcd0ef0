"""Service account tokens: the JWTs a TokenRequest (`serviceaccounts/<name>/token`) issues, signed ES256 as
kube-apiserver signs them, and their authentication: a token whose signature, expiry and audience check out, and
whose service account still exists with the uid it was issued for, is `system:serviceaccount:<ns>:<name>` in the
groups `system:serviceaccounts` and `system:serviceaccounts:<ns>`.

The signing key is generated at first use; a server with generated certificates (`--secure`) keeps it beside them,
so that replicas sharing the directory accept each other's tokens. cryptography is imported only then (~25 ms).
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from apiserver.authentication.user import CREDENTIAL_ID, UserInfo

KEY_FILE = "service-account.key"
PREFIX = "system:serviceaccount:"

# uid of the service account `namespace/name`, None when it does not exist
AccountUid = Callable[[str, str], str | None]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServiceAccountTokens:
    """Issues and verifies the tokens of one server (or of the replicas sharing `key_file`)."""

    def __init__(self, issuer: str, key_file: Path | None = None) -> None:
        self.issuer = issuer
        self.key_file = key_file
        self._key: Any = None

    def _signing_key(self) -> Any:
        if self._key is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            if self.key_file is not None and self.key_file.exists():
                self._key = serialization.load_pem_private_key(self.key_file.read_bytes(), None)
            else:
                self._key = ec.generate_private_key(ec.SECP256R1())
                if self.key_file is not None:
                    self.key_file.parent.mkdir(parents=True, exist_ok=True)
                    self.key_file.write_bytes(self._key.private_bytes(
                        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
                    self.key_file.chmod(0o600)
        return self._key

    def _key_id(self) -> str:
        from cryptography.hazmat.primitives import serialization

        public = self._signing_key().public_key().public_bytes(serialization.Encoding.DER,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return _b64(hashlib.sha256(public).digest())

    def issue(self, namespace: str, name: str, uid: str, audiences: list[str], seconds: int) -> tuple[str, int]:
        """A token for the service account, valid `seconds` from now; (token, expiry as a Unix time)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(time.time())
        claims = {"aud": audiences, "exp": now + seconds, "iat": now, "iss": self.issuer, "jti": str(uuid.uuid4()),
                  "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
                  "nbf": now, "sub": f"{PREFIX}{namespace}:{name}"}
        head = _b64(orjson.dumps({"alg": "ES256", "kid": self._key_id()})) + "." + _b64(orjson.dumps(claims))
        r, s = decode_dss_signature(self._signing_key().sign(head.encode(), ec.ECDSA(hashes.SHA256())))
        return head + "." + _b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")), now + seconds

    def user(self, token: str, account_uid: AccountUid) -> UserInfo | None:
        """The service account a token of ours names, None for anything else (another kind of token, a bad
        signature, expired, for another audience, or of an account deleted or recreated since)."""
        parts = token.split(".")
        if len(parts) != 3 or self._key is None and (self.key_file is None or not self.key_file.exists()):
            return None
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            signature = _unb64(parts[2])
            claims = orjson.loads(_unb64(parts[1]))
            self._signing_key().public_key().verify(
                encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")),
                f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, orjson.JSONDecodeError):
            return None
        now = time.time()
        account = (claims.get("kubernetes.io") or {}).get("serviceaccount") or {}
        namespace = (claims.get("kubernetes.io") or {}).get("namespace", "")
        if claims.get("iss") != self.issuer or self.issuer not in (claims.get("aud") or ()) or \
                not claims.get("nbf", 0) <= now < claims.get("exp", 0) or \
                account_uid(namespace, account.get("name", "")) != account.get("uid"):
            return None
        return UserInfo(f"{PREFIX}{namespace}:{account['name']}", account["uid"],
                        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
                        {CREDENTIAL_ID: (f"JTI={claims.get('jti', '')}",)})


class ServiceAccountAuthenticator:
    """The bearer tokens this server issued (a RequestAuthenticator): None for a request without one of them."""

    def __init__(self, tokens: ServiceAccountTokens, account_uid: AccountUid) -> None:
        self.tokens = tokens
        self.account_uid = account_uid

    def authenticate(self, request: web.Request) -> UserInfo | None:
        scheme, _, rest = request.headers.get("Authorization", "").strip().partition(" ")
        token = rest.split(" ", 1)[0]
        if scheme.lower() != "bearer" or not token:
            return None
        return self.tokens.user(token, self.account_uid)


SERVICE_ACCOUNT_TOKENS: web.AppKey[ServiceAccountTokens] = web.AppKey("service_account_tokens")
