"""`--token-auth-file`: static bearer tokens in upstream's CSV (`token,user,uid,"group1,group2"`), and the admin
token `--secure` generates in that format."""

from __future__ import annotations

import csv
import logging
import os
import secrets
from pathlib import Path

from apiserver.authentication.user import MASTERS, UserInfo

log = logging.getLogger(__name__)

ADMIN = "admin"


class TokenFileError(ValueError):
    pass


def read_token_file(path: str | Path) -> dict[str, UserInfo]:
    """token → user, as upstream's tokenfile.NewCSV reads it: at least 3 columns (token, user name, uid), an
    optional fourth of comma-separated groups; empty tokens are skipped, a repeated token's last line wins."""
    tokens: dict[str, UserInfo] = {}
    with open(path, newline="") as text:
        for number, record in enumerate(csv.reader(text, skipinitialspace=True), start=1):
            if not record:
                continue
            if len(record) < 3:
                raise TokenFileError(f"token file '{path}' must have at least 3 columns (token, user name, user uid), "
                                     f"found {len(record)}")
            token, name, uid = record[:3]
            if not token:
                log.warning("empty token has been found in token file '%s', record number '%d'", path, number)
                continue
            if token in tokens:
                log.warning("duplicate token has been found in token file '%s', record number '%d'", path, number)
            groups = tuple(record[3].split(",")) if len(record) > 3 else ()
            tokens[token] = UserInfo(name, uid, groups)
    return tokens


def ensure_admin_token(path: Path) -> str:
    """The admin token of the token file at `path` (user `admin` in `system:masters`), made if there is none."""
    try:
        for token, user in read_token_file(path).items():
            if user.name == ADMIN and MASTERS in user.groups:
                return token
    except (OSError, TokenFileError):
        pass
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f'{token},{ADMIN},{ADMIN},"{MASTERS}"\n')
    return token
