"""The exception tree: every error says how it is reported, as errors.py documents it."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import pytest

from mlfactory import errors
from mlfactory.cli import main
from mlfactory.serving.v2codec import V2Error

CLASSES = [getattr(errors, name) for name in errors.__all__ if name.endswith("Error")]


def _documented() -> dict[str, tuple[int, int, str]]:
    """The docstring's table: class name -> (exit code, HTTP status, kind)."""
    rows = re.findall(r"(\w+Error)\s+(\d)\s+(\d{3})\s+(\w+)", errors.__doc__ or "")
    return {name: (int(code), int(status), kind) for name, code, status, kind in rows}


def test_every_error_is_reported_as_the_docstring_says() -> None:
    documented = _documented()
    classes = {cls.__name__: cls for cls in [*CLASSES, V2Error] if cls is not errors.ServingError}
    assert set(documented) == set(classes)
    for name, cls in classes.items():
        assert (cls.exit_code, cls.http_status, cls.kind) == documented[name], name
        assert issubclass(cls, errors.MlfactoryError)


def test_an_error_the_user_caused_is_never_a_5xx_and_a_broken_store_is_a_503() -> None:
    for cls in CLASSES:
        if issubclass(cls, errors.BadInputError) and cls not in {
            errors.RegistryLocationError,  # the server's own setup, never a request's fault
            errors.EngineError,
        }:
            assert 400 <= cls.http_status < 500, cls
    assert errors.TamperedArtifactError.http_status == 503
    assert errors.RegistryError.http_status == 503
    assert V2Error.http_status == 400 and issubclass(V2Error, ValueError)


@pytest.mark.parametrize(("status", "exit_code"), [(404, 2), (413, 2), (503, 1)])
def test_a_serving_error_carries_its_own_status(status: int, exit_code: int) -> None:
    exc = errors.ServingError(status, "no", kind="too_large")
    assert (exc.http_status, exc.status, exc.exit_code) == (status, status, exit_code)
    assert exc.kind == "too_large" and exc.message == str(exc) == "no"


def test_every_error_survives_pickling_with_its_problems() -> None:
    made = [cls("bad", problems=["a", "b"]) for cls in CLASSES if cls is not errors.ServingError]
    made += [V2Error("bad tensor"), errors.ServingError(413, "too big", kind="too_large")]
    for exc in made:
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc)
        assert (str(back), back.problems, back.http_status, back.exit_code, back.kind) == (
            str(exc),
            exc.problems,
            exc.http_status,
            exc.exit_code,
            exc.kind,
        )


def test_from_problems_lists_one_problem_a_line_under_the_header() -> None:
    exc = errors.DataError.from_problems("the data fails validation", ["one", "two"])
    assert isinstance(exc, errors.DataError)
    assert str(exc) == "the data fails validation:\n  - one\n  - two"
    assert exc.problems == ["one", "two"]
    hinted = errors.SpecError.from_problems("factory.yaml has 1 problem", ["x"], hint="Fix it.")
    assert str(hinted) == "factory.yaml has 1 problem:\n  - x\nFix it."


def test_every_problem_list_uses_the_one_formatter() -> None:
    """No module writes its own "  - " list of problems (there were seven copies)."""
    src = Path(errors.__file__).parent
    copies = [
        f"{path.relative_to(src)}:{number}"
        for path in sorted(src.rglob("*.py"))
        if path.name != "errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if 'join(f"  - {' in line
    ]
    assert copies == []


def test_the_cli_exits_with_the_code_the_error_class_carries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "factory.yaml"
    spec.write_text("name: x\ntask: nonsense\n")
    assert main(["validate", str(spec)]) == 2
    monkeypatch.setattr(errors.SpecError, "exit_code", 9)
    assert main(["validate", str(spec)]) == 9
    assert "error (SpecError): " in capsys.readouterr().err
