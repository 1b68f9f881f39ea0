"""The MLflow model folder: what ``mlflow.pyfunc.save_model`` writes, without its slow scan.

A registered version's folder is an ordinary MLflow model (pyfunc flavor,
``loader_module`` ``mlfactory.registry.pyfunc``, no pickle) holding the model
package under ``data/package``, sealed last by ``integrity.seal``. The files are
made through MLflow's ``Model`` and ``pyfunc.add_to_model``: ``save_model`` would
also check every pin against the installed packages (a ~0.5 s scan of all of
them), and these pins are the installed versions. The signature and input example
(``registry/signature.py``) are written as ``save_model`` writes them, the example
checked against the signature first. ``tests/registry/test_store.py`` checks that
the files stay the ones ``save_model`` writes given the same signature and example.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mlfactory.registry.integrity import PACKAGE_PATH, seal
from mlfactory.registry.signature import input_example, signature
from mlfactory.versions import installed_version, installed_versions

if TYPE_CHECKING:
    from mlfactory.registry.package import ModelPackage

__all__ = ["write_model_folder"]

_PINNED = ("mlflow", "mlfactory", "scikit-learn", "lightgbm", "skops", "pandas", "numpy")
_CONDA_FILE, _PYTHON_ENV_FILE = "conda.yaml", "python_env.yaml"


def _requirements() -> list[str]:
    """Exact pins of what loading a package imports, MLflow first (as save_model puts it)."""
    return [f"{name}=={version}" for name, version in installed_versions(_PINNED).items()]


def _write_environment(directory: Path, pins: list[str]) -> None:
    """requirements.txt, python_env.yaml and conda.yaml in MLflow's formats."""
    import platform

    import yaml

    python = platform.python_version()
    pip, setuptools = installed_version("pip"), installed_version("setuptools")
    build = [f"pip=={pip}" if pip else "pip"]
    build += [f"setuptools=={setuptools}" if setuptools else "setuptools", "wheel"]
    conda = {
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", f"pip<={pip}" if pip else "pip", {"pip": pins}],
        "name": "mlflow-env",
    }
    python_env = {
        "python": python,
        "build_dependencies": build,
        "dependencies": ["-r requirements.txt"],
    }
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "requirements.txt").write_text("\n".join(pins))
    (directory / _PYTHON_ENV_FILE).write_text(yaml.safe_dump(python_env, sort_keys=False))
    (directory / _CONDA_FILE).write_text(yaml.safe_dump(conda, default_flow_style=False))


def write_model_folder(package: ModelPackage, directory: Path) -> Path:
    """Save ``package`` as an MLflow model folder in ``directory``; returns it."""
    import mlflow.pyfunc
    from mlflow.models import Model, validate_schema
    from mlflow.models.utils import _save_example  # what save_model calls: the same files

    package.save(directory / PACKAGE_PATH)
    typed = signature(package)
    example = input_example(package, typed)
    validate_schema(example, typed.inputs)  # as save_model does: fails here, not on a load
    model = Model(signature=typed)
    _save_example(model, example, str(directory))
    model.model_size_bytes = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    _write_environment(directory, _requirements())
    mlflow.pyfunc.add_to_model(
        model,
        loader_module="mlfactory.registry.pyfunc",
        data=PACKAGE_PATH,
        conda_env=_CONDA_FILE,
        python_env=_PYTHON_ENV_FILE,
        streamable=False,
    )
    model.flavors[mlflow.pyfunc.FLAVOR_NAME]["code"] = None  # as save_model records it
    model.save(str(directory / "MLmodel"))
    seal(directory)  # digests of every file, MLmodel included, signed with a key: written last
    return directory
