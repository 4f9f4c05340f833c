"""``tls_server_config`` of the web configuration file, turned into an ``ssl.SSLContext``.

Names and defaults are exporter-toolkit's (Go's crypto/tls); what Python's ``ssl`` module
cannot do is refused with the reason. The certificates and keys, inline or in files, are read
and loaded when the file is loaded, so a reload picks up renewed ones; errors never show the
PEM, since a private key must not end up in a log. Also here: client certificate SANs, spelt as
Go compares them, for ``client_allowed_sans``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..yaml_loader import Problem, describe

if TYPE_CHECKING:  # config.py builds its SSLContext here: a runtime import would be a cycle
    from .config import TLSServerConfig

_WHERE = "tls_server_config"  # error messages name keys under this section
_CLIENT_AUTH = {
    "": ssl.CERT_NONE,
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_AUTH_NAMES = {
    ssl.CERT_NONE: "NoClientCert",
    ssl.CERT_OPTIONAL: "VerifyClientCertIfGiven",
    ssl.CERT_REQUIRED: "RequireAndVerifyClientCert",
}
_UNVERIFIED_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
# Go's names (crypto/tls CipherSuites()) for TLS 1.0-1.2, as OpenSSL calls them.
_CIPHERS = {
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
}
# Accepted because Go accepts them; neither Go nor OpenSSL lets TLS 1.3 suites be chosen.
_TLS13_CIPHERS = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
)


def server_context(
    tls: TLSServerConfig, base_dir: Path
) -> tuple[ssl.SSLContext | None, list[Problem]]:
    """An SSLContext and the problems found (each under ``tls_server_config``); the context is
    None after a problem, or when no key that switches TLS on is set (as in exporter-toolkit).
    Relative file names are resolved against `base_dir`."""
    problems: list[Problem] = []
    switches = ("cert", "key", "cert_file", "key_file", "client_ca", "client_ca_file")
    if not any(getattr(tls, name) for name in (*switches, "client_auth_type")):
        ignored = sorted(tls.model_fields_set - set(switches) - {"client_auth_type"})
        for name in ignored:
            message = "has no effect without TLS: also set cert_file and key_file"
            problems.append(((_WHERE, name), message))
        return None, problems
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_alpn_protocols(["http/1.1"])
    _set_versions(context, tls, problems)
    _set_ciphers(context, tls, problems)
    _set_client_auth(context, tls, base_dir, problems)
    _load_certificate(context, tls, base_dir, problems)
    return (None if problems else context), problems


def client_auth_type(context: ssl.SSLContext) -> str:
    """The client_auth_type a context was built from, for log lines."""
    return _AUTH_NAMES.get(context.verify_mode, "")


def _set_versions(context: ssl.SSLContext, tls: TLSServerConfig, problems: list[Problem]) -> None:
    versions = []
    for name in ("min_version", "max_version"):
        value = getattr(tls, name)
        version = _VERSIONS.get(value)
        if value in ("TLS10", "TLS11"):
            message = "TLS 1.0 and 1.1 are not supported by ses-exporter; use TLS12 or TLS13"
            problems.append(((_WHERE, name), message))
        elif version is None:
            message = f"unknown TLS version {describe(value)} (expected TLS12 or TLS13)"
            problems.append(((_WHERE, name), message))
        versions.append(version)
    low, high = versions
    if low is not None and high is not None:
        if low > high:
            problems.append(((_WHERE, "max_version"), "must not be lower than min_version"))
        context.minimum_version, context.maximum_version = low, high


def _set_ciphers(context: ssl.SSLContext, tls: TLSServerConfig, problems: list[Problem]) -> None:
    if tls.curve_preferences:
        message = (
            "not supported by ses-exporter: Python's ssl module cannot choose the key "
            "exchange curves; remove curve_preferences"
        )
        problems.append(((_WHERE, "curve_preferences"), message))
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    if not tls.cipher_suites:
        return
    openssl_names = []
    for index, name in enumerate(tls.cipher_suites):
        if name in _CIPHERS:
            openssl_names.append(_CIPHERS[name])
        elif name not in _TLS13_CIPHERS:
            message = f"unknown cipher suite {describe(name)} (expected a Go name such as "
            problems.append(
                ((_WHERE, "cipher_suites", index), message + f"{next(iter(_CIPHERS))})")
            )
    if not openssl_names:  # only TLS 1.3 suites listed: no TLS 1.2 handshake can succeed
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        return
    try:
        context.set_ciphers(":".join(openssl_names))
    except ssl.SSLError:
        message = "none of these cipher suites is available in this OpenSSL"
        problems.append(((_WHERE, "cipher_suites"), message))


def _set_client_auth(
    context: ssl.SSLContext, tls: TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    auth = tls.client_auth_type
    if auth in _UNVERIFIED_AUTH:
        message = (
            f"{auth} is not supported by ses-exporter: Python's ssl module verifies every client "
            "certificate it accepts; use RequireAndVerifyClientCert with client_ca_file"
        )
        problems.append(((_WHERE, "client_auth_type"), message))
        return
    if auth not in _CLIENT_AUTH:
        names = ", ".join(n for n in (*_CLIENT_AUTH, *_UNVERIFIED_AUTH) if n)
        message = f"unknown client_auth_type {describe(auth)} (expected one of: {names})"
        problems.append(((_WHERE, "client_auth_type"), message))
        return
    context.verify_mode = _CLIENT_AUTH[auth]
    sans = tls.client_allowed_sans
    if sans is not None and context.verify_mode != ssl.CERT_REQUIRED:
        message = "requires client_auth_type: RequireAndVerifyClientCert"
        problems.append(((_WHERE, "client_allowed_sans"), message))
    elif sans is not None and not sans:
        message = "must not be empty (no client could connect); remove the key to allow any SAN"
        problems.append(((_WHERE, "client_allowed_sans"), message))
    _load_client_cas(context, tls, base_dir, problems)


def _load_client_cas(
    context: ssl.SSLContext, tls: TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    ca_text = _pem_source(tls, "client_ca", base_dir, problems)
    if ca_text is None:
        return
    key = "client_ca_file" if tls.client_ca_file else "client_ca"
    if ca_text and context.verify_mode == ssl.CERT_NONE:
        message = "client CAs are set but client_auth_type is NoClientCert"
        problems.append(((_WHERE, key), message + ": set RequireAndVerifyClientCert"))
    elif ca_text:
        try:
            context.load_verify_locations(cadata=ca_text)
        except (ssl.SSLError, ValueError):
            problems.append(((_WHERE, key), "holds no valid PEM certificate"))
    elif context.verify_mode != ssl.CERT_NONE:
        # Without a CA, Go verifies client certificates against the system roots.
        context.load_default_certs(ssl.Purpose.CLIENT_AUTH)


def normalised_sans(sans: list[str] | None) -> frozenset[str] | None:
    return None if sans is None else frozenset(normalise_san(s) for s in sans)


def normalise_san(value: str) -> str:
    """IP addresses in Go's spelling (OpenSSL writes IPv6 in full); other names as they are."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


def peer_sans(peer_certificate: Mapping[str, Any]) -> set[str]:
    """The DNS, IP, e-mail and URI SANs of ``SSLSocket.getpeercert()``, as Go compares them."""
    kinds = {"DNS", "IP Address", "email", "URI"}
    return {
        normalise_san(value)
        for kind, value in peer_certificate.get("subjectAltName", ())
        if kind in kinds
    }


# --- certificates and keys ---------------------------------------------------------------


def _pem_source(
    tls: TLSServerConfig, name: str, base_dir: Path, problems: list[Problem]
) -> str | None:
    """The inline value of `name` or the content of `name`_file; None after a problem."""
    inline: str = getattr(tls, name)
    path: str = getattr(tls, f"{name}_file")
    if inline and path:
        problems.append(((_WHERE, name), f"set {name} or {name}_file, not both"))
        return None
    if not path:
        return inline
    full = base_dir / path
    try:
        return full.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(((_WHERE, f"{name}_file"), f"cannot read {full}: {exc.strerror or exc}"))
    except UnicodeDecodeError:
        problems.append(((_WHERE, f"{name}_file"), f"{full} is not a PEM file"))
    return None


def _load_certificate(
    context: ssl.SSLContext, tls: TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    before = len(problems)
    cert = _pem_source(tls, "cert", base_dir, problems)
    key = _pem_source(tls, "key", base_dir, problems)
    if cert == "":
        problems.append(((_WHERE,), "missing cert_file (or cert): the server certificate"))
    elif cert is not None and "-----BEGIN CERTIFICATE-----" not in cert:
        problems.append(((_WHERE, "cert_file" if tls.cert_file else "cert"), "no PEM certificate"))
    if key == "":
        problems.append(((_WHERE,), "missing key_file (or key): the server's private key"))
    elif key is not None and not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        problems.append(((_WHERE, "key_file" if tls.key_file else "key"), "no PEM private key"))
    elif key is not None and "ENCRYPTED" in key:
        message = "encrypted private keys are not supported (as in Prometheus)"
        problems.append(((_WHERE, "key_file" if tls.key_file else "key"), message))
    if cert and key and len(problems) == before:
        with _as_files(cert, key) as (cert_path, key_path):
            try:
                context.load_cert_chain(cert_path, key_path, password=_no_password)
            except ssl.SSLError as exc:
                if exc.reason == "KEY_VALUES_MISMATCH":
                    message = "the private key does not belong to the certificate"
                else:
                    message = f"cannot load the certificate and key: {exc.reason or exc}"
                problems.append(((_WHERE,), message))


def _no_password() -> str:
    raise ValueError("encrypted key")  # never prompt on the terminal


@contextmanager
def _as_files(cert: str, key: str) -> Iterator[tuple[str, str]]:
    """load_cert_chain only reads files: inline PEM goes to a private temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ses-exporter-tls-") as directory:
        paths = []
        for name, text in (("cert.pem", cert), ("key.pem", key)):
            path = os.path.join(directory, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
                file.write(text)
            paths.append(path)
        yield paths[0], paths[1]
