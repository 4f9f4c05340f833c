"""Certificates for TLS tests: a CA, server and client certificates, and a rogue CA's."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pki:
    """A CA, a server certificate for 127.0.0.1/localhost, and client certificates."""

    directory: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path  # signed by ca, SAN DNS:prometheus.example
    client_key: Path
    rogue_cert: Path  # signed by another CA
    rogue_key: Path
    other_server_cert: Path  # a second server certificate, for reloads
    other_server_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    sans: list[x509.GeneralName],
    ca: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey):
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def make_pki(directory: Path) -> Pki:
    ca_key, rogue_ca_key = _key(), _key()
    ca = _cert("test CA", ca_key, None, [], ca=True)
    rogue_ca = _cert("rogue CA", rogue_ca_key, None, [], ca=True)
    server_sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    client_sans: list[x509.GeneralName] = [x509.DNSName("prometheus.example")]
    ca_path, _ = _write(directory, "ca", ca, ca_key)
    made = {}
    for name, issuer, sans in [
        ("server", (ca.subject, ca_key), server_sans),
        ("other_server", (ca.subject, ca_key), server_sans),
        ("client", (ca.subject, ca_key), client_sans),
        ("rogue", (rogue_ca.subject, rogue_ca_key), client_sans),
    ]:
        key = _key()
        made[name] = _write(directory, name, _cert(name, key, issuer, sans), key)
    return Pki(
        directory,
        ca_path,
        *made["server"],
        *made["client"],
        *made["rogue"],
        *made["other_server"],
    )


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context
