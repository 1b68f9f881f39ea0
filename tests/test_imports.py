"""`import mlfactory` and `mlfactory --help` stay fast: no heavy library is imported."""

import subprocess
import sys

import mlfactory

HEAVY = ["mlflow", "lightgbm", "optuna", "sklearn", "fastapi", "ray", "pyspark", "dask"]


def _imported_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules = done.stdout.split()
    return {m.split(".")[0] for m in modules}


def test_import_mlfactory_imports_no_heavy_library() -> None:
    loaded = _imported_after("import mlfactory")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_cli_help_imports_no_heavy_library() -> None:
    code = (
        "import sys\nfrom mlfactory.cli import main\nsys.argv=['mlfactory','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    loaded = _imported_after(code)
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_public_names_are_pinned() -> None:
    assert mlfactory.__all__ == [
        "BadInputError",
        "DataError",
        "FactorySpec",
        "MlfactoryError",
        "ModelPackage",
        "ModelRef",
        "ModelReferenceError",
        "Registry",
        "RegistryError",
        "RegistryLocationError",
        "SpecError",
        "TamperedArtifactError",
        "TrainResult",
        "__version__",
        "load_model",
        "load_spec",
        "train",
    ]
    for name in mlfactory.__all__:
        assert getattr(mlfactory, name) is not None
