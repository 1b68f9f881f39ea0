"""Signed models: with a verify key set, only models its holder signed load, on every path."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest

import mlfactory
from mlfactory.errors import BadInputError, TamperedArtifactError
from mlfactory.registry import Registry
from mlfactory.registry.signing import generate_keys, signing_key, verify_keys
from mlfactory.spec import parse_spec
from mlfactory.training import train
from tampering import reseal, retag, tamper

from conftest import mroz_spec

ROWS = Path(__file__).parents[1] / "training" / "mroz_rows.csv"
SIGN, VERIFY = "MLFACTORY_SIGNING_KEY", "MLFACTORY_VERIFY_KEY"


class Keys:
    def __init__(self, folder: Path) -> None:
        self.private, self.public, self.fingerprint = generate_keys(folder)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def registry(keys: Keys, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """mroz v1 signed with ``keys`` (champion), v2 trained without a key."""
    reg = Registry(path=tmp_path_factory.mktemp("signed") / ".mlfactory")
    spec = parse_spec(mroz_spec(search={"trials": 1}))
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SIGN, str(keys.private))
        train(spec, registry=reg, progress=False)
    train(spec, registry=reg, progress=False)
    return reg


def folder_of(registry: Registry, ref: str) -> Path:
    return Path(urlparse(registry.resolve(ref).source).path)


def pyfunc(registry: Registry, ref: str, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    import mlflow.pyfunc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{ref}").predict(pd.read_csv(ROWS))  # type: ignore[no-any-return]


def test_keys_generate_writes_an_owner_only_private_key(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    command = [sys.executable, "-m", "mlfactory", "keys", "generate", str(tmp_path / "k")]
    done = subprocess.run(command, env=cli_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    private, public = (tmp_path / "k" / f"mlfactory-{n}.pem" for n in ("signing", "verify"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert f"{SIGN}={private}" in done.stdout and f"{VERIFY}={public}" in done.stdout
    again = subprocess.run(command, env=cli_env, capture_output=True, text=True)
    assert again.returncode == 2 and "keys are not replaced" in again.stderr
    assert private.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_a_signed_model_loads_on_every_path_with_and_without_the_key(
    registry: Registry,
    keys: Keys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    info = registry.resolve("mroz@champion")
    assert info.tags["mlfactory.signed_by"] == keys.fingerprint
    assert (folder_of(registry, "mroz@champion") / "digests.sig").is_file()
    assert "mlfactory.signed_by" not in registry.resolve("mroz/2").tags
    from mlfactory.cli import main

    assert main(["models", "show", "mroz", "--registry", str(registry.path)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert f"v1 signed by the key {keys.fingerprint[:16]}" in shown and "v2 signed" not in shown
    for verify in (None, str(keys.public)):
        if verify:
            monkeypatch.setenv(VERIFY, verify)
        package = mlfactory.load_model("mroz@champion", path=registry.path)
        assert package.classes == ["no", "yes"]
        assert registry.manifest("mroz@champion")[0] == package.manifest
        assert len(pyfunc(registry, "mroz@champion", monkeypatch)) == 5


def test_an_unsigned_model_is_refused_on_every_path(
    registry: Registry, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VERIFY, str(keys.public))
    source = registry.resolve("mroz/2").source
    with pytest.raises(TamperedArtifactError, match=rf"^{source}/digests.json is not signed"):
        mlfactory.load_model("mroz/2", path=registry.path)
    with pytest.raises(TamperedArtifactError, match=r"digests.json is not signed"):
        pyfunc(registry, "mroz/2", monkeypatch)
    with pytest.raises(TamperedArtifactError, match=rf"^{source}/digests.json is not signed"):
        registry.manifest("mroz/2")


@pytest.fixture
def restored(registry: Registry) -> Iterator[Path]:
    """The champion's folder in the store, put back as it was after the test."""
    folder = folder_of(registry, "mroz@champion")
    backup = folder.with_name("backup")
    shutil.copytree(folder, backup)
    tag = registry.resolve("mroz@champion").tags["mlfactory.package_sha256"]
    yield folder
    shutil.rmtree(folder)
    backup.rename(folder)
    retag(registry.tracking_uri, "mroz", "1", tag)


@pytest.mark.parametrize("signature", ["stale", "deleted", "by another key"])
def test_a_resigned_model_with_reversed_classes_is_refused_before_anything_runs(
    signature: str,
    registry: Registry,
    keys: Keys,
    restored: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attacker rewrites the store and the registry's tag, but has no private key."""
    manifest = restored / "data" / "package" / "manifest.json"
    changed = json.loads(manifest.read_text())
    changed["schema"]["classes"].reverse()  # every prediction inverted
    manifest.write_text(json.dumps(changed))
    marker = tmp_path / "marker"
    tamper(restored / "data" / "package" / "pipeline.skops", "exec", marker)
    if signature == "deleted":
        (restored / "digests.sig").unlink()
    digest = reseal(restored)
    if signature == "by another key":
        other = generate_keys(tmp_path / "attacker")[0]
        monkeypatch.setenv(SIGN, str(other))
        from mlfactory.registry.integrity import seal

        seal(restored)
        monkeypatch.delenv(SIGN)
        digest = reseal(restored)  # same digests, now signed by the attacker's key
        assert (restored / "digests.sig").is_file()
    retag(registry.tracking_uri, "mroz", "1", digest)
    expected = {
        "stale": "does not match its signature by key",
        "deleted": "is not signed",
        "by another key": "is signed by key .* which is not among the keys in MLFACTORY_VERIFY_KEY",
    }[signature]
    monkeypatch.setenv(VERIFY, str(keys.public))
    with pytest.raises(TamperedArtifactError, match=expected):
        mlfactory.load_model("mroz@champion", path=registry.path)
    with pytest.raises(TamperedArtifactError, match=expected):
        pyfunc(registry, "mroz@champion", monkeypatch)
    assert not marker.exists()  # the signature is checked before the pipeline is read


def test_rotated_keys_in_one_file_all_verify(
    registry: Registry, keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, newer, _ = generate_keys(tmp_path / "newer")
    both = tmp_path / "verify.pem"
    both.write_bytes(newer.read_bytes() + keys.public.read_bytes())
    monkeypatch.setenv(VERIFY, str(both))
    found = verify_keys() or {}
    assert len(found) == 2 and keys.fingerprint in found
    assert mlfactory.load_model("mroz@champion", path=registry.path).task.name == "classification"


def test_keys_given_as_pem_text_work(keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIGN, keys.private.read_text().replace("\n", "\\n"))  # a one-line secret
    monkeypatch.setenv(VERIFY, keys.public.read_text())
    assert list(verify_keys() or {}) == [keys.fingerprint]
    assert signing_key() is not None


def _rsa_keys(folder: Path) -> tuple[Path, Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder.mkdir()
    private, public, locked = folder / "rsa.pem", folder / "rsa.pub", folder / "locked.pem"
    plain, pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    private.write_bytes(key.private_bytes(plain, pem, serialization.NoEncryption()))
    public.write_bytes(
        key.public_key().public_bytes(plain, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    locked.write_bytes(key.private_bytes(plain, pem, serialization.BestAvailableEncryption(b"pw")))
    return private, public, locked


def test_bad_key_files_say_which_variable_and_file(keys: Keys, tmp_path: Path) -> None:
    rsa_private, rsa_public, locked = _rsa_keys(tmp_path / "rsa")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    cases = [
        (SIGN, tmp_path / "missing.pem", "cannot be read"),
        (VERIFY, tmp_path / "missing.pem", "cannot be read"),
        (SIGN, text, "is not a PEM private key"),
        (VERIFY, text, "holds no PEM public key"),
        (SIGN, keys.public, "is a public key; MLFACTORY_SIGNING_KEY takes the private key"),
        (VERIFY, keys.private, "holds a private key; MLFACTORY_VERIFY_KEY takes public keys"),
        (SIGN, rsa_private, "is a RSA key; mlfactory signs with ed25519"),
        (VERIFY, rsa_public, "holds a RSA key; mlfactory verifies ed25519"),
        (SIGN, locked, "is an encrypted private key"),
    ]
    for env, path, problem in cases:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(env, str(path))
            with pytest.raises(BadInputError) as bad:
                signing_key() if env == SIGN else verify_keys()
        assert str(bad.value).startswith(f"{env} file {str(path)!r}"), bad.value
        assert problem in str(bad.value), bad.value


def test_a_bad_verify_key_stops_every_load(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VERIFY, str(tmp_path / "typo.pem"))
    with pytest.raises(BadInputError, match=rf"MLFACTORY_VERIFY_KEY file '{tmp_path}/typo.pem'"):
        mlfactory.load_model("mroz@champion", path=registry.path)


def test_training_stops_before_it_starts_when_its_model_could_not_load_here(
    keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = parse_spec(mroz_spec(search={"trials": 1}))
    registry = Registry(path=tmp_path / ".mlfactory")
    monkeypatch.setenv(VERIFY, str(keys.public))
    with pytest.raises(BadInputError, match="MLFACTORY_SIGNING_KEY is not: this training would"):
        train(spec, registry=registry, progress=False)
    _, _, other = generate_keys(tmp_path / "other")
    monkeypatch.setenv(SIGN, str(tmp_path / "other" / "mlfactory-signing.pem"))
    with pytest.raises(BadInputError, match=rf"\({other[:16]}…\) is not among the keys"):
        train(spec, registry=registry, progress=False)
    assert registry.list_models() == []
