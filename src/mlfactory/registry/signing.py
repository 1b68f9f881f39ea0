"""Signed models: an ed25519 signature over the model folder's digest manifest.

Where models are trained, ``MLFACTORY_SIGNING_KEY`` holds the private key (a
PEM file's path, or the PEM text itself, e.g. a CI secret); training then writes
``digests.sig`` beside ``digests.json``. Where models are loaded,
``MLFACTORY_VERIFY_KEY`` holds one or more public keys (a PEM file's path or PEM
text; several keys in one file allow rotation). When it is set, every loader
(mlfactory's and ``mlflow.pyfunc``) refuses a model folder that is not signed by
one of them, before reading anything else in it. ``generate_keys`` (``mlfactory
keys generate DIR``) makes a pair. ``cryptography`` is imported only when a key
is configured.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from mlfactory.errors import BadInputError, TamperedArtifactError

__all__ = [
    "SIGNATURE",
    "SIGNING_KEY_ENV",
    "VERIFY_KEY_ENV",
    "check_signature",
    "check_training_keys",
    "fingerprint",
    "generate_keys",
    "sign",
    "signer_of",
    "signing_key",
    "verify_keys",
]

SIGNING_KEY_ENV = "MLFACTORY_SIGNING_KEY"
VERIFY_KEY_ENV = "MLFACTORY_VERIFY_KEY"
SIGNATURE = "digests.sig"  # beside digests.json: {"algorithm", "key", "signature"}
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_HOW = "`mlfactory keys generate DIR` makes a pair"


def _read(env: str) -> tuple[bytes, str] | None:
    """The PEM bytes an environment variable holds or names, and how to name them."""
    value = os.environ.get(env, "").strip()
    if not value:
        return None
    if value.startswith("-----BEGIN"):
        if "\n" not in value:  # a secret stored on one line with escaped newlines
            value = value.replace("\\n", "\n")
        return value.encode(), f"{env} (PEM text)"
    path = Path(value).expanduser()
    where = f"{env} file {str(path)!r}"
    try:
        return path.read_bytes(), where
    except OSError as exc:
        raise BadInputError(
            f"{where} cannot be read ({exc.strerror or exc}); set {env} to a PEM key file "
            f"or the PEM text ({_HOW}), or unset it."
        ) from None


def fingerprint(public_key: Any) -> str:
    """SHA-256 of the raw 32-byte ed25519 public key, in hex."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def _kind(key: Any) -> str:
    return type(key).__name__.removeprefix("_").replace("PrivateKey", "").replace("PublicKey", "")


def signing_key() -> Any | None:
    """The ed25519 private key ``MLFACTORY_SIGNING_KEY`` holds, or None when it is unset."""
    found = _read(SIGNING_KEY_ENV)
    if found is None:
        return None
    data, where = found
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise BadInputError(
            f"{where} is an encrypted private key; mlfactory reads unencrypted keys only. "
            "Keep the key in a file only the training user can read, or in a CI secret."
        ) from None
    except ValueError:
        what = "a public key" if b"PUBLIC KEY" in data else "not a PEM private key"
        raise BadInputError(
            f"{where} is {what}; {SIGNING_KEY_ENV} takes the private key of an ed25519 "
            f"pair ({_HOW})."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInputError(
            f"{where} is a {_kind(key)} key; mlfactory signs with ed25519 keys ({_HOW})."
        )
    return key


def verify_keys() -> dict[str, Any] | None:
    """The public keys ``MLFACTORY_VERIFY_KEY`` holds, by fingerprint; None when it is unset."""
    found = _read(VERIFY_KEY_ENV)
    if found is None:
        return None
    data, where = found
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    blocks = list(_PEM.finditer(data))
    if not blocks:
        raise BadInputError(f"{where} holds no PEM public key; give the public key ({_HOW}).")
    keys: dict[str, Any] = {}
    for block in blocks:
        if b"PRIVATE" in block.group(1):
            raise BadInputError(
                f"{where} holds a private key; {VERIFY_KEY_ENV} takes public keys only "
                "(the private key stays where models are trained)."
            )
        try:
            key = serialization.load_pem_public_key(block.group(0))
        except ValueError:
            raise BadInputError(f"{where} holds a PEM block that is not a public key.") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadInputError(
                f"{where} holds a {_kind(key)} key; mlfactory verifies ed25519 keys ({_HOW})."
            )
        keys[fingerprint(key)] = key
    return keys


def sign(message: bytes, key: Any) -> bytes:
    """The ``digests.sig`` content: the ed25519 signature of ``message`` and the key's id."""
    signature = {
        "algorithm": "ed25519",
        "key": fingerprint(key.public_key()),
        "signature": base64.b64encode(key.sign(message)).decode(),
    }
    return json.dumps(signature, indent=1).encode()


def signer_of(signature_file: Path) -> str | None:
    """The fingerprint a signature file names (unverified), or None."""
    try:
        key = json.loads(signature_file.read_bytes())["key"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key if isinstance(key, str) else None


def check_signature(message: bytes, signature_file: Path, keys: dict[str, Any], shown: str) -> str:
    """The signer's fingerprint, or ``TamperedArtifactError`` unless one of ``keys`` signed.

    ``message`` is the manifest's bytes; ``shown`` names the manifest in messages.
    """
    from cryptography.exceptions import InvalidSignature

    known = ", ".join(f"{k[:16]}…" for k in sorted(keys))
    if not signature_file.is_file():
        raise TamperedArtifactError(
            f"{shown} is not signed, and {VERIFY_KEY_ENV} is set: only models signed by its "
            f"keys ({known}) are loaded. Retrain the model with {SIGNING_KEY_ENV} set."
        )
    try:
        recorded = json.loads(signature_file.read_bytes())
        signer, signature = recorded["key"], base64.b64decode(recorded["signature"], validate=True)
        if recorded["algorithm"] != "ed25519" or not isinstance(signer, str):
            raise ValueError(recorded["algorithm"])
    except (ValueError, KeyError, TypeError):
        raise TamperedArtifactError(
            f"{signature_file.name} beside {shown} is not a signature mlfactory wrote; "
            "refusing to load the model."
        ) from None
    if signer not in keys:
        raise TamperedArtifactError(
            f"{shown} is signed by key {signer[:16]}…, which is not among the keys in "
            f"{VERIFY_KEY_ENV} ({known}); refusing to load the model."
        )
    try:
        keys[signer].verify(signature, message)
    except InvalidSignature:
        raise TamperedArtifactError(
            f"{shown} does not match its signature by key {signer[:16]}…: the model was "
            "changed after it was signed. Refusing to load it."
        ) from None
    return signer


def check_training_keys() -> None:
    """Fail before training when the model it would register could not be loaded here."""
    key = signing_key()
    keys = verify_keys()
    if keys is None:
        return
    if key is None:
        raise BadInputError(
            f"{VERIFY_KEY_ENV} is set but {SIGNING_KEY_ENV} is not: this training would "
            "register an unsigned model, which every loader here refuses. Set "
            f"{SIGNING_KEY_ENV} to the private key of one of those public keys."
        )
    if (own := fingerprint(key.public_key())) not in keys:
        raise BadInputError(
            f"the key in {SIGNING_KEY_ENV} ({own[:16]}…) is not among the keys in "
            f"{VERIFY_KEY_ENV}: the model this training registers could not be loaded here. "
            f"Add its public key to {VERIFY_KEY_ENV}."
        )


def generate_keys(directory: Path) -> tuple[Path, Path, str]:
    """Write a new pair into ``directory``: (private key, public key, fingerprint).

    The private key file is readable by its owner only; existing files are never
    overwritten.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private, public = directory / "mlfactory-signing.pem", directory / "mlfactory-verify.pem"
    for path in (private, public):
        if path.exists():
            raise BadInputError(f"{path} exists; choose another folder (keys are not replaced).")
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    secret = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(secret)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public, fingerprint(key.public_key())
