"""TLS between client, scheduler and workers, with certificates made by the test.

A private CA signs one certificate (SAN 127.0.0.1 and localhost) for the scheduler, the
workers and the client. The scheduler takes its certificate on the command line
(``--tls-ca-file --tls-cert --tls-key``), the workers and clients from the environment
(``DASK_DISTRIBUTED__COMM__TLS__*``), as docs/security.md describes. Training through
``logloss train --scheduler tls://...`` and through the flow works; plain TCP, a TLS client
without a certificate, and a certificate from another CA are refused.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cluster_procs import assert_loopback_only, process_cluster, subprocess_env

from logloss import load_model
from logloss.generate import LABEL, generate
from logloss.loading import load_dataset
from logloss.settings import TrainSettings
from logloss.training.fit import train_model

pytestmark = pytest.mark.cluster

SEED = 99_173


# --------------------------------------------------------------- certificates
def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write(path: Path, cert, key) -> None:
    from cryptography.hazmat.primitives import serialization

    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    path.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.with_suffix(".key").chmod(0o600)


def make_ca(directory: Path, name: str):
    """A self-signed CA certificate and key: ``name.crt``, ``name.key``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    key = _key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(directory / name, cert, key)
    return cert, key


def make_leaf(directory: Path, name: str, ca_cert, ca_key) -> None:
    """A certificate for 127.0.0.1/localhost, for TLS servers and clients, signed by the CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID

    key = _key()
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    _write(directory / name, cert, key)


def tls_env(ca: Path, cert: Path, key: Path) -> dict[str, str]:
    """The environment variables Dask reads: CA, and one certificate for every role."""
    env = {
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(ca),
        "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True",
    }
    for role in ("SCHEDULER", "WORKER", "CLIENT"):
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__CERT"] = str(cert)
        env[f"DASK_DISTRIBUTED__COMM__TLS__{role}__KEY"] = str(key)
    return env


# ------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    ca_cert, ca_key = make_ca(d, "ca")
    make_leaf(d, "dask", ca_cert, ca_key)
    other_cert, other_key = make_ca(d, "other-ca")
    make_leaf(d, "intruder", other_cert, other_key)
    return d


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory, certs):
    """A TLS scheduler (certificate on its command line) and two TLS workers (from env)."""
    ca, crt, key = certs / "ca.crt", certs / "dask.crt", certs / "dask.key"
    env = tls_env(ca, crt, key)
    from distributed import Security

    security = Security(
        tls_ca_file=str(ca),
        tls_client_cert=str(crt),
        tls_client_key=str(key),
        require_encryption=True,
    )
    with process_cluster(
        tmp_path_factory.mktemp("tls-procs"),
        n_workers=2,
        protocol="tls",
        memory_limit="1GiB",
        env={k: v for k, v in env.items() if "__SCHEDULER__" not in k},
        tls_args={
            "scheduler": ["--tls-ca-file", str(ca), "--tls-cert", str(crt), "--tls-key", str(key)]
        },
        client_kwargs={"security": security, "set_as_default": False},
    ) as (cluster, client):
        yield cluster, client, env


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "synthetic"
    generate(out, rows=20_000, features=5, files=2, seed=SEED, row_group_size=5_000)
    return out


def _reference(path, settings):
    return train_model(load_dataset(str(path), LABEL), settings)


# ---------------------------------------------------------------------- tests
def test_every_connection_is_tls_on_loopback(tls_cluster):
    cluster, client, _ = tls_cluster
    workers = client.scheduler_info(n_workers=-1)["workers"]
    assert len(workers) == 2
    assert all(a.startswith("tls://127.0.0.1:") for a in workers)
    assert cluster.address.startswith("tls://")
    assert_loopback_only(cluster)


def test_cli_trains_over_tls_with_the_env_vars(tls_cluster, dataset, tmp_path):
    cluster, _, env = tls_cluster
    out = tmp_path / "model"
    args = [
        sys.executable, "-m", "logloss.cli", "train", str(dataset), "--label", LABEL,
        "--tol", "1e-8", "--out", str(out), "--scheduler", cluster.address, "--quiet",
    ]  # fmt: skip
    proc = subprocess.run(
        args, capture_output=True, text=True, env=subprocess_env(env), timeout=300
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    reference = _reference(dataset, TrainSettings(tol=1e-8))
    model = load_model(out)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=0)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=1e-9, atol=0)

    # The same command without the certificates is refused, with a one-line error.
    args[args.index(str(out))] = str(tmp_path / "refused")
    proc = subprocess.run(args, capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode != 0
    assert not (tmp_path / "refused").exists()


@pytest.mark.prefect
def test_flow_trains_over_tls(prefect_api, tls_cluster, dataset, tmp_path):
    import dask

    from flows.train import train

    cluster, _, env = tls_cluster
    # In this process Dask read its config at import: set the same keys as the env vars.
    config = {
        "distributed.comm.tls.ca-file": env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"],
        "distributed.comm.tls.client.cert": env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"],
        "distributed.comm.tls.client.key": env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"],
        "distributed.comm.require-encryption": True,
    }
    with dask.config.set(config):
        version = train(
            data=str(dataset),
            label=LABEL,
            tol=1e-8,
            standardize=False,
            validation=None,
            scheduler_address=cluster.address,
            model_dir=str(tmp_path / "models"),
            name="tls",
        )
    model = load_model(version)
    reference = _reference(dataset, TrainSettings(tol=1e-8))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-9, atol=0)


async def _identity(address: str, security) -> dict:
    """One request to the scheduler over Dask's comm layer (no Client, no loop thread)."""
    from distributed.comm import connect

    comm = await connect(address, timeout="5s", **security.get_connection_args("client"))
    try:
        await comm.write({"op": "identity", "reply": True})
        return await comm.read()
    finally:
        await comm.close()


def _refused(address: str, **security_kwargs) -> BaseException:
    import asyncio

    from distributed import Security

    with pytest.raises((OSError, TimeoutError, RuntimeError, TypeError)) as info:
        asyncio.run(_identity(address, Security(**security_kwargs)))
    return info.value


def _handshake_without_client_certificate_is_rejected(port: str, ca: Path) -> None:
    """A TLS client that trusts the CA but shows no certificate: the scheduler drops it."""
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            # The server's certificate is accepted: this is the right CA ...
            assert tls.getpeercert()["subject"] == ((("commonName", "dask"),),)
            # ... but the server requires ours (TLS 1.3 reports it on the first read).
            with pytest.raises((ssl.SSLError, ConnectionError)):
                tls.sendall(b"\0" * 8)
                if not tls.recv(1):
                    raise ConnectionError("closed by the scheduler")


def test_plain_tcp_and_unauthenticated_clients_are_refused(tls_cluster, certs):
    cluster, _, _ = tls_cluster
    port = cluster.address.rsplit(":", 1)[1]
    import asyncio

    from distributed import Security

    good = {
        "tls_ca_file": str(certs / "ca.crt"),
        "tls_client_cert": str(certs / "dask.crt"),
        "tls_client_key": str(certs / "dask.key"),
        "require_encryption": True,
    }
    # The check itself works: with the cluster's certificate the scheduler answers.
    assert asyncio.run(_identity(cluster.address, Security(**good)))["type"] == "Scheduler"
    _refused(f"tcp://127.0.0.1:{port}")  # a plain TCP client cannot talk to a TLS listener
    _refused(cluster.address)  # Dask's client will not try TLS without a certificate
    _handshake_without_client_certificate_is_rejected(port, certs / "ca.crt")
    _refused(  # a certificate signed by another CA
        cluster.address,
        tls_ca_file=str(certs / "ca.crt"),
        tls_client_cert=str(certs / "intruder.crt"),
        tls_client_key=str(certs / "intruder.key"),
        require_encryption=True,
    )
    # With require-encryption, a client refuses to even try a tcp:// address.
    error = _refused(f"tcp://127.0.0.1:{port}", **good)
    assert "encryption required" in str(error)
