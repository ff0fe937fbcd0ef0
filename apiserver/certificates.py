"""Self-signed serving certificates, as kube-apiserver makes them when it is given none (client-go's
`cert.GenerateSelfSignedCertKey`): a CA, and a serving certificate it signed for the server's addresses, kept in
a directory (upstream's `--cert-dir`) and reused on restart while still valid for the same names."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

VALIDITY = datetime.timedelta(days=365)
RENEW_BEFORE = datetime.timedelta(days=7)  # a certificate that expires sooner is made again


@dataclass(frozen=True)
class ServingFiles:
    """Where the generated CA and serving certificate are."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path

    @classmethod
    def under(cls, directory: Path) -> ServingFiles:
        return cls(directory / "ca.crt", directory / "ca.key", directory / "apiserver.crt", directory / "apiserver.key")


def serving_names(bind_address: str, extra: tuple[str, ...] = ()) -> list[str]:
    """The SANs of a serving certificate for `bind_address`: it (the host's name for every address), `localhost`,
    127.0.0.1 and ::1, and the `extra` names (an aggregated server's Service name)."""
    names = ["localhost", "127.0.0.1", "::1"]
    address = socket.gethostname() if bind_address in ("", "0.0.0.0", "::") else bind_address
    for name in (address, *extra):
        if name and _canonical(name) not in names:
            names.append(_canonical(name))
    return names


def ensure_serving_certificate(directory: Path, bind_address: str, extra: tuple[str, ...] = ()) -> ServingFiles:
    """The CA and serving certificate under `directory`: reused if the serving certificate is valid for another
    week, signed by the CA there and names every address of `serving_names`; otherwise made anew (a new CA too)."""
    files = ServingFiles.under(directory)
    names = serving_names(bind_address, extra)
    if _reusable(files, names):
        return files
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, ca = _new_ca(f"slice-apiserver-ca@{int(now.timestamp())}", now)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{bind_address or 'localhost'}@{int(now.timestamp())}")])
    cert = (_builder(subject, ca.subject, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(files.ca_key, ca_key)
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("generated a CA and a serving certificate for %s in %s", ", ".join(names), directory)
    return files


@dataclass(frozen=True)
class CertificateFiles:
    cert: Path
    key: Path


def new_ca(directory: Path, name: str) -> CertificateFiles:
    """A new self-signed CA named `name`, in `<name>.crt` and `<name>.key` under `directory` (for client
    certificates: the front proxy's CA of an aggregator, a --client-ca-file)."""
    now = datetime.datetime.now(datetime.UTC)
    key, cert = _new_ca(name, now)
    return _write(directory, name, key, cert)


def new_client_certificate(ca: CertificateFiles, directory: Path, name: str, common_name: str,
                           organizations: tuple[str, ...] = ()) -> CertificateFiles:
    """A client certificate `ca` signs for `common_name` in `organizations` (the user and its groups), in
    `<name>.crt` and `<name>.key` under `directory`."""
    now = datetime.datetime.now(datetime.UTC)
    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey), "the CAs made here have EC keys"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([*(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations),
                         x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (_builder(subject, ca_cert.subject, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return _write(directory, name, key, cert)


def _new_ca(name: str, now: datetime.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (_builder(subject, subject, key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _write(directory: Path, name: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> CertificateFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = CertificateFiles(directory / f"{name}.crt", directory / f"{name}.key")
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
             now: datetime.datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + VALIDITY))


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write a private key readable by its owner only."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def _reusable(files: ServingFiles, names: list[str]) -> bool:
    try:
        ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        for key_file, owner in ((files.key, cert), (files.ca_key, ca)):
            key = serialization.load_pem_private_key(key_file.read_bytes(), None)
            if key.public_key() != owner.public_key():
                return False
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, x509.ExtensionNotFound, InvalidSignature):
        return False
    present = {str(v) for v in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))
    expires = datetime.datetime.now(datetime.UTC) + RENEW_BEFORE
    return all(str(_canonical(n)) in present for n in names) and min(
        cert.not_valid_after_utc, ca.not_valid_after_utc) > expires


def _canonical(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name
