"""A throw-away PKI for TLS tests: a test CA, a localhost server certificate it signed, and an
unrelated CA that must not be trusted."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    """PEM files written by :func:`write_tls_files`."""

    ca: Path
    other_ca: Path
    server_cert: Path
    server_key: Path

    @property
    def listener_options(self) -> str:
        """Mosquitto listener lines serving the server certificate."""
        return f"cafile {self.ca}\ncertfile {self.server_cert}\nkeyfile {self.server_key}\n"


def certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.Certificate:
    """A certificate valid for a day: a CA when ``subject`` is its own issuer, else a server
    certificate for localhost and 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if subject == issuer[0]:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=0), critical=True
        )
    else:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer[1], hashes.SHA256())


def write_tls_files(directory: Path) -> TlsFiles:
    """Write a fresh test CA, a server certificate and key it signed, and another CA."""
    pem = serialization.Encoding.PEM
    ca_key, other_key, server_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = certificate("dorsi test CA", ca_key, ("dorsi test CA", ca_key))
    other = certificate("not the clinic", other_key, ("not the clinic", other_key))
    server = certificate("localhost", server_key, ("dorsi test CA", ca_key))
    files = TlsFiles(
        directory / "ca.pem",
        directory / "other-ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    files.ca.write_bytes(ca.public_bytes(pem))
    files.other_ca.write_bytes(other.public_bytes(pem))
    files.server_cert.write_bytes(server.public_bytes(pem))
    files.server_key.write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return files
