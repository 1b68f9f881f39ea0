"""The ETML job's extract and transform steps: one day's rows, read from where they lie.

The job's ``extract.source`` is a template holding ``{date}``: a local file, glob or
folder, or any fsspec URL (``s3://rides/date={date}/*.parquet``). ``render`` puts the
day in, as ``YYYY-MM-DD`` or any strftime form (``{date:%Y/%m/%d}``); any other field
is refused (write a literal brace as ``{{`` or ``}}``). ``extract`` reads every CSV,
Parquet and JSON lines file the rendered source names (by suffix; hidden ``.x`` and
``_x`` files, such as a writer's temporary file or ``_SUCCESS``, are skipped) and
concatenates them; files whose columns differ are refused, naming them. A day with no
file, or files without rows, is an empty frame with a note, never an error: the job
decides whether that is exit 0 or 2.

``s3://`` needs the ``[s3]`` extra (s3fs), imported only then. ``storage_options`` go to
fsspec as given, except that ``NAME_env: VAR`` puts the value of the environment
variable ``VAR`` under ``NAME`` (``key_env: TAXI_S3_KEY``): a spec names where a secret
is, never the secret. ``check_source`` lists a source's problems for the spec's
validation, including a source and SQL without ``{date}`` (every day would read the
same rows) and a secret written into the spec.

``transform`` runs the optional DuckDB SQL over the day's rows, the view ``rows``, with
``{date}`` rendered in it too.
"""

from __future__ import annotations

import glob
import importlib
import os
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from mlfactory.errors import BadInputError, DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FORMATS",
    "Extracted",
    "check_source",
    "extract",
    "render",
    "resolve_storage_options",
    "transform",
]

SECRET_OPTIONS = ("key", "secret", "token", "password", "access_key", "secret_key")


def _read_csv(handle: IO[bytes]) -> pd.DataFrame:
    import pandas as pd

    from mlfactory.data.formats import repeated_name_hint

    try:
        frame = pd.read_csv(handle)
    except pd.errors.EmptyDataError:  # an empty file: a day without rows, not a broken file
        return pd.DataFrame()
    if hint := repeated_name_hint(frame, handle):
        raise ValueError(hint)
    return frame


def _read_parquet(handle: IO[bytes]) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(handle)


def _read_json_lines(handle: IO[bytes]) -> pd.DataFrame:
    import pandas as pd

    return pd.read_json(handle, lines=True)


# suffix -> (the format as messages name it, its reader of an open binary file)
FORMATS: dict[str, tuple[str, Callable[[IO[bytes]], pd.DataFrame]]] = {
    ".csv": ("CSV", _read_csv),
    ".parquet": ("Parquet", _read_parquet),
    ".pq": ("Parquet", _read_parquet),
    ".jsonl": ("JSON lines", _read_json_lines),
    ".ndjson": ("JSON lines", _read_json_lines),
}


@dataclass(frozen=True)
class Extracted:
    """One day's rows, the files they came from (in order) and what the job should know."""

    frame: pd.DataFrame
    files: list[str]
    source: str  # the rendered source
    notes: list[str] = field(default_factory=list)


# -- templates --------------------------------------------------------------------------


def _fields(template: str, what: str) -> list[tuple[str, str | None, str | None, str | None]]:
    """(literal, field, format spec, conversion) pieces of ``template``; a malformed one is
    refused."""
    try:
        return list(string.Formatter().parse(template))
    except ValueError as exc:
        raise BadInputError(
            f"{what} {template!r} is not a valid template ({exc}); put the day in as {{date}} "
            "or {date:%Y/%m/%d}, and write a literal brace as {{ or }}."
        ) from None


def render(template: str, day: date, *, what: str = "extract.source") -> str:
    """``template`` with ``{date}`` as ``YYYY-MM-DD`` and ``{date:FORMAT}`` as strftime.

    Any other field, a conversion (``{date!r}``) or a format with no ``%`` directive
    is a BadInputError naming it; ``what`` names the template in the message.
    """
    pieces: list[str] = []
    for text, name, spec, conversion in _fields(template, what):
        pieces.append(text)
        if name is None:
            continue
        if name != "date":
            raise BadInputError(
                f"{what} {template!r} has the field {{{name}}}; the only field is {{date}} "
                "(or {date:%Y/%m/%d}). Write a literal brace as {{ or }}."
            )
        if conversion is not None:
            raise BadInputError(
                f"{what} {template!r}: {{date}} takes no conversion; write {{date}} or "
                "{date:%Y/%m/%d}."
            )
        if not spec:
            pieces.append(day.isoformat())
        elif "%" not in spec or "{" in spec:
            raise BadInputError(
                f"{what} {template!r}: {{date:{spec}}} is not a strftime format; write "
                "directives such as {date:%Y/%m/%d} or {date:%Y%m%d}."
            )
        else:
            pieces.append(day.strftime(spec))
    return "".join(pieces)


def _has_date(template: str | None) -> bool:
    if template is None:
        return False
    try:
        return any(name == "date" for _, name, _, _ in string.Formatter().parse(template))
    except ValueError:
        return False


def check_source(
    source: str,
    sql: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
    *,
    where: str = "extract",
) -> list[str]:
    """The problems of an extract's settings, one line each, for the spec's validation.

    Templates that do not render; a source and SQL of which neither holds ``{date}``
    (every day would read the same rows); a secret written as a value rather than
    named by ``NAME_env``; an ``s3://`` source without the ``[s3]`` extra installed.
    """
    problems: list[str] = []
    probe = date(2000, 1, 31)
    for key, template in (("source", source), ("sql", sql)):
        if template is None:
            continue
        try:
            render(template, probe, what=f"{where}.{key}")
        except BadInputError as exc:
            problems.append(str(exc))
    if not _has_date(source) and not _has_date(sql):
        problems.append(
            f"{where}.source {source!r} holds no {{date}}"
            + (" and neither does its sql" if sql is not None else "")
            + ": every day would read the same rows. Put {date} where the day's rows are, "
            "e.g. 'rides/date={date}/*.parquet', or filter on it in the sql."
        )
    for name, value in (storage_options or {}).items():
        if name in SECRET_OPTIONS and value is not None:
            problems.append(
                f"{where}.storage_options.{name} is written in the spec; name the environment "
                f"variable that holds it instead: {name}_env: VARIABLE."
            )
    if _protocol(source) in {"s3", "s3a"}:
        try:
            _need_s3()
        except BadInputError as exc:
            problems.append(str(exc))
    return problems


def resolve_storage_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """``options`` for fsspec: each ``NAME_env: VAR`` becomes ``NAME: os.environ[VAR]``."""
    resolved: dict[str, Any] = {}
    for name, value in (options or {}).items():
        if not name.endswith("_env"):
            resolved[name] = value
            continue
        target = name.removesuffix("_env")
        if not isinstance(value, str) or value not in os.environ:
            raise BadInputError(
                f"storage option {name}: the environment variable {value!r} is not set; "
                f"export it with the {target} to use, or remove {name}."
            )
        resolved[target] = os.environ[value]
    return resolved


# -- finding and reading the day's files ------------------------------------------------


def _protocol(source: str) -> str:
    head, sep, _ = source.partition("://")
    return head.lower() if sep and head.isidentifier() else "file"


def _need_s3() -> None:
    try:
        importlib.import_module("s3fs")  # untyped: imported by name, only when needed
    except ImportError:
        raise BadInputError(
            "reading s3:// sources needs s3fs, which is not installed; install the extra: "
            "pip install 'mlfactory[s3]'"
        ) from None


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


class _Store:
    """Where the day's files are: this machine, or an fsspec file system."""

    def __init__(self, source: str, options: dict[str, Any]) -> None:
        self.protocol = _protocol(source)
        self.fs: Any = None
        if self.protocol == "file":
            self.path = source.removeprefix("file://")
            return
        if self.protocol in {"s3", "s3a"}:
            _need_s3()
        try:
            fsspec = importlib.import_module("fsspec.core")
        except ImportError:
            raise BadInputError(
                f"reading {self.protocol}:// sources needs fsspec, which is not installed; "
                "pip install fsspec (or 'mlfactory[s3]' for s3://)."
            ) from None
        try:
            self.fs, self.path = fsspec.url_to_fs(source, **options)
        except (ImportError, ValueError) as exc:
            raise BadInputError(
                f"cannot open {source!r}: {exc}; install the fsspec implementation of "
                f"{self.protocol}:// or fix the URL."
            ) from None
        self.fs.invalidate_cache()  # a listing cached by an earlier run may be stale

    def name(self, path: str) -> str:
        """A path as messages and ``Extracted.files`` write it (with its protocol)."""
        return path if self.fs is None else self.fs.unstrip_protocol(path)

    def files(self) -> list[str]:
        """The readable files the source names, in order; none is not an error."""
        if self.fs is None:
            return self._local_files(self.path)
        fs, path = self.fs, self.path
        if glob.has_magic(path):
            found = fs.glob(path, detail=True)
            return sorted(
                p
                for p, info in found.items()
                if info.get("type") == "file" and not _is_hidden(PurePosixPath(p).name)
            )
        if fs.isdir(path):
            below = fs.find(path)
            return sorted(
                p
                for p in below
                if _suffix(p) in FORMATS
                and not any(_is_hidden(part) for part in p[len(path) :].split("/") if part)
            )
        return [path] if fs.isfile(path) else []

    @staticmethod
    def _local_files(source: str) -> list[str]:
        path = Path(source)
        if path.is_dir():
            return sorted(
                str(p)
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in FORMATS
                and not any(_is_hidden(part) for part in p.relative_to(path).parts)
            )
        if path.is_file():
            return [str(path)]
        if glob.has_magic(source):
            found = glob.glob(source, recursive=True)
            return sorted(p for p in found if Path(p).is_file() and not _is_hidden(Path(p).name))
        return []

    def read(self, path: str) -> pd.DataFrame:
        suffix = _suffix(path)
        if suffix not in FORMATS:
            known = ", ".join(sorted(FORMATS))
            raise DataError(
                f"{self.name(path)!r}: unsupported file type {suffix or '(none)'!r}; the day's "
                f"files must end in {known}."
            )
        kind, reader = FORMATS[suffix]
        try:
            if self.fs is None:
                with open(path, "rb") as handle:
                    return reader(handle)
            with self.fs.open(path, "rb") as handle:
                return reader(handle)
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else ""
            raise DataError(
                f"cannot read {self.name(path)!r}: {type(exc).__name__}: {message}. Is it a "
                f"readable {kind} file? Replace or remove it and rerun the day."
            ) from None


def extract(
    source: str,
    day: date,
    *,
    sql: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Extracted:
    """The rows of ``day``: every file the rendered ``source`` names, concatenated.

    ``sql``, when given, is the extract's DuckDB query over those rows (the view
    ``rows``, ``{date}`` rendered), for a source that holds more than one day.
    No file, or no row, gives an empty frame and a note saying so.
    """
    import pandas as pd

    rendered = render(source, day)
    store = _Store(rendered, resolve_storage_options(storage_options))
    paths = store.files()
    if not paths:
        note = f"no file matches {rendered!r} for {day.isoformat()}: no rows for the date"
        return Extracted(pd.DataFrame(), [], rendered, [note])
    names = [store.name(p) for p in paths]
    read = [(name, store.read(p)) for name, p in zip(names, paths, strict=True)]
    shaped = [(name, f) for name, f in read if len(f.columns) or len(f)]  # not empty files
    frame = pd.DataFrame()
    if shaped:
        _check_same_columns([n for n, _ in shaped], [f for _, f in shaped])
        columns = list(shaped[0][1].columns)
        frame = pd.concat([f[columns] for _, f in shaped], ignore_index=True)
    notes: list[str] = []
    if sql is not None:
        frame = transform(frame, sql, day, what="extract.sql")
    if frame.empty:
        where = f"the {len(names)} file{'s' if len(names) > 1 else ''} of {rendered!r}"
        reason = "after extract.sql" if sql is not None else ""
        notes.append(
            f"{where} for {day.isoformat()} hold{'' if len(names) > 1 else 's'} no rows"
            f"{' ' + reason if reason else ''}: no rows for the date"
        )
    return Extracted(frame, names, rendered, notes)


def _check_same_columns(names: list[str], frames: list[pd.DataFrame]) -> None:
    first = list(frames[0].columns)
    problems = []
    for name, frame in zip(names[1:], frames[1:], strict=True):
        missing = [c for c in first if c not in frame.columns]
        extra = [c for c in frame.columns if c not in first]
        if missing or extra:
            said = "; ".join(
                part
                for part in (
                    f"lacks {', '.join(map(repr, missing))}" if missing else "",
                    f"adds {', '.join(map(repr, extra))}" if extra else "",
                )
                if part
            )
            problems.append(f"{name!r} {said}")
    if problems:
        raise DataError.from_problems(
            f"the day's files do not have the same columns as {names[0]!r} "
            f"({', '.join(map(repr, first))})",
            problems,
            hint="Give extract.source a pattern that matches one kind of file, or make the "
            "files agree.",
        )


# -- transform --------------------------------------------------------------------------


def transform(
    frame: pd.DataFrame, sql: str, day: date, *, what: str = "transform.sql"
) -> pd.DataFrame:
    """The rows of the DuckDB query ``sql`` (``{date}`` rendered) over ``frame`` as ``rows``.

    A frame without columns (a day without files) is returned as it is: there is
    nothing to query. A failing query is a BadInputError with DuckDB's message.
    """
    import duckdb

    query = render(sql, day, what=what)
    if len(frame.columns) == 0:
        return frame
    con = duckdb.connect()
    try:
        con.register("rows", frame)
        return con.execute(query).df()
    except duckdb.Error as exc:
        message = str(exc).splitlines()[0]
        columns = ", ".join(map(str, frame.columns))
        raise BadInputError(
            f"{what} failed for {day.isoformat()}: {message}. The query reads the day's rows "
            f"as the view rows (columns: {columns})."
        ) from None
    finally:
        con.close()
