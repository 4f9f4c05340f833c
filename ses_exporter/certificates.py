"""The PEM that ``tls_server_config`` names, inline or in files, checked and loaded.

Read when the web configuration file is loaded, so a reload picks up renewed certificates.
Errors never show the PEM: a private key must not end up in a log.
"""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .webconfig_file import TLSServerConfig
from .yaml_loader import Problem

WHERE = "tls_server_config"  # error messages name keys under this section


def pem_source(
    tls: TLSServerConfig, name: str, base_dir: Path, problems: list[Problem]
) -> str | None:
    """The inline value of `name` or the content of `name`_file; None after a problem."""
    inline: str = getattr(tls, name)
    path: str = getattr(tls, f"{name}_file")
    if inline and path:
        problems.append(((WHERE, name), f"set {name} or {name}_file, not both"))
        return None
    if not path:
        return inline
    full = base_dir / path
    try:
        return full.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(((WHERE, f"{name}_file"), f"cannot read {full}: {exc.strerror or exc}"))
    except UnicodeDecodeError:
        problems.append(((WHERE, f"{name}_file"), f"{full} is not a PEM file"))
    return None


def load_certificate(
    context: ssl.SSLContext, tls: TLSServerConfig, base_dir: Path, problems: list[Problem]
) -> None:
    before = len(problems)
    cert = pem_source(tls, "cert", base_dir, problems)
    key = pem_source(tls, "key", base_dir, problems)
    if cert == "":
        problems.append(((WHERE,), "missing cert_file (or cert): the server certificate"))
    elif cert is not None and "-----BEGIN CERTIFICATE-----" not in cert:
        problems.append(((WHERE, "cert_file" if tls.cert_file else "cert"), "no PEM certificate"))
    if key == "":
        problems.append(((WHERE,), "missing key_file (or key): the server's private key"))
    elif key is not None and not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", key):
        problems.append(((WHERE, "key_file" if tls.key_file else "key"), "no PEM private key"))
    elif key is not None and "ENCRYPTED" in key:
        message = "encrypted private keys are not supported (as in Prometheus)"
        problems.append(((WHERE, "key_file" if tls.key_file else "key"), message))
    if cert and key and len(problems) == before:
        with _as_files(cert, key) as (cert_path, key_path):
            try:
                context.load_cert_chain(cert_path, key_path, password=_no_password)
            except ssl.SSLError as exc:
                if exc.reason == "KEY_VALUES_MISMATCH":
                    message = "the private key does not belong to the certificate"
                else:
                    message = f"cannot load the certificate and key: {exc.reason or exc}"
                problems.append(((WHERE,), message))


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
