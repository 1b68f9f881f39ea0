"""What the ETML job asks the LLM, and what it writes when no LLM answers.

Each flagged row becomes one prompt: the row template (``summarise.template`` in the
spec; default ``default_row_template``) is a Python format string whose fields are the
spec's listed text columns, ``{traffic}``. Only those columns' values are rendered, so
only they ever leave the machine. The day's summary is asked once more, from the row
summaries (``DAY_TEMPLATE``: fields ``{flagged}``, ``{total}``, ``{summaries}``),
cut to fit the token budget left.

Without an answer from an LLM (no endpoint, a fault, the budget) the text is an
**extractive summary**, deterministic and made without a model: the first sentence of
each text in turn, then the second of each, up to three sentences (``extractive_summary``).
The day's fallback says the counts, the terms most row summaries share, and their first
sentences. Such answers have ``source == "extractive"`` and say why in ``reason``.
"""

from __future__ import annotations

import difflib
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mlfactory.errors import DataError, SpecError
from mlfactory.etml.llm import Answer, LLMClient, LLMSettings, Prompt, Usage, estimate_tokens

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DAY_FIELDS",
    "DAY_TEMPLATE",
    "MISSING",
    "ROW_INSTRUCTION",
    "SYSTEM_PROMPT",
    "check_template",
    "default_row_template",
    "extractive_summary",
    "render",
    "summarise_day",
    "summarise_rows",
]

SYSTEM_PROMPT = (
    "You summarise records that an anomaly detector flagged as unusual. Use only the text "
    "you are given, write plain sentences, and do not speculate beyond it."
)
ROW_INSTRUCTION = "Summarise in at most three sentences what this flagged record's text says."
DAY_TEMPLATE = (
    "{flagged} of {total} records were flagged as unusual today. The summaries of the "
    "flagged records follow, one a line. In at most five sentences, say what was flagged "
    "and the common threads between the records.\n\n{summaries}"
)
DAY_FIELDS = ("flagged", "total", "summaries")
MISSING = "(none)"
DAY_PROMPT_TOKENS = 6000  # the day's prompt is cut to this even with no budget
SENTENCE_CHARS = 300  # an extractive sentence is cut to this many characters
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_COMMON_WORDS = (
    "about after also been before being between from have into more most near over "
    "said some than that their them then there these they this were what when where "
    "which while with would your none summary"
)
_COMMON = frozenset(_COMMON_WORDS.split())


def default_row_template(columns: Sequence[str]) -> str:
    """The instruction, then one ``column: {column}`` line per listed text column."""
    lines = "\n".join(f"{column}: {{{column}}}" for column in columns)
    return f"{ROW_INSTRUCTION}\n\n{lines}"


def check_template(template: str, columns: Sequence[str]) -> list[str]:
    """The template's problems: a field that is not one of ``columns``, or no field."""
    listed = ", ".join(repr(c) for c in columns) or "none"
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        return [f"the template is not a valid format string ({error}): write {{column}}"]
    problems = []
    fields = [(name, spec or "") for _, name, spec, _ in parsed if name is not None]
    if not fields:
        problems.append(
            f"the template references no column: put {{column}} where a text column's "
            f"value goes (listed text columns: {listed})"
        )
    for name, spec in dict.fromkeys(fields):
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not name or name.isdigit():
            problems.append(f"the template has a positional field {{{name}}}: name a column")
        elif name not in columns and base in columns:
            problems.append(f"the template field {{{name}}} goes inside a value: write {{{base}}}")
        elif name not in columns:
            close = difflib.get_close_matches(name, list(columns), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(
                f"the template references column '{name}', which is not a listed text "
                f"column ({listed}){hint}"
            )
        elif "{" in spec:
            problems.append(f"the template field {{{name}:{spec}}} nests a field: remove it")
    return problems


def render(template: str, row: Mapping[str, Any]) -> str:
    """The template filled from ``row``; a missing, empty or NaN value reads ``(none)``."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format_map({name: _text(row.get(name)) for name in names})


def extractive_summary(texts: Sequence[str], sentences: int = 3) -> str:
    """Up to ``sentences`` sentences taken in turn from ``texts``: the first of each text,
    then the second of each, and so on; each cut to ``SENTENCE_CHARS``. Same input, same
    output; empty texts and ``(none)`` are skipped."""
    split = [
        [s for s in _SENTENCE_END.split(" ".join(text.split())) if s]
        for text in texts
        if text and text.strip() and text.strip() != MISSING
    ]
    picked: list[str] = []
    for position in range(max((len(s) for s in split), default=0)):
        for text_sentences in split:
            if len(picked) < sentences and position < len(text_sentences):
                picked.append(_cut(text_sentences[position]))
    return " ".join(picked)


def summarise_rows(
    frame: pd.DataFrame,
    columns: Sequence[str],
    template: str | None,
    settings: LLMSettings | LLMClient | None,
) -> tuple[list[Answer], Usage]:
    """One answer per row of ``frame``, in order, from its listed text ``columns``.

    ``settings`` may be an ``LLMClient`` so the day's summary shares its budget and stops;
    ``None`` (or no ``base_url``) gives every row its extractive summary. A listed column
    missing from ``frame`` is a ``DataError``; a template naming another is a ``SpecError``.
    """
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError.from_problems(
            "summarise: text columns are missing from the data",
            [
                f"column '{c}' is not in the data (it has {list(map(str, frame.columns))})"
                for c in missing
            ],
            hint="list columns the extract (or transform) produces in summarise.columns",
        )
    template = template or default_row_template(columns)
    problems = check_template(template, columns)
    if problems:
        raise SpecError.from_problems("summarise.template is invalid", problems)
    picked = frame.loc[:, columns].itertuples(index=False, name=None)  # nothing else is read
    rows = [dict(zip(columns, values, strict=True)) for values in picked]
    prompts = [
        Prompt(
            render(template, row),
            system=SYSTEM_PROMPT,
            fallback=extractive_summary([_text(row[c]) for c in columns]),
        )
        for row in rows
    ]
    return _client(settings).complete(prompts)


def summarise_day(
    answers: Sequence[Answer],
    flagged_count: int,
    total_count: int,
    template: str | None,
    settings: LLMSettings | LLMClient | None,
) -> tuple[Answer, Usage]:
    """One summary of the day from the row summaries: what was flagged, the common threads.

    The summaries sent are cut to fit ``DAY_PROMPT_TOKENS`` and the budget left (the rest
    are counted as "and N more"). With nothing flagged no call is made.
    """
    template = template or DAY_TEMPLATE
    problems = check_template(template, DAY_FIELDS)
    if problems:
        raise SpecError.from_problems("summarise.day_template is invalid", problems)
    texts = [a.text for a in answers if a.text.strip()]
    fallback = _day_fallback(texts, flagged_count, total_count)
    if not texts:
        return Answer(fallback, "extractive", "nothing was flagged"), Usage(
            fallbacks=1, reasons={"nothing was flagged": 1}
        )
    client = _client(settings)
    limit = DAY_PROMPT_TOKENS
    if (remaining := client.remaining_tokens()) is not None:
        limit = min(limit, remaining - client.settings.max_tokens)
    values: dict[str, Any] = {"flagged": flagged_count, "total": total_count}

    def prompt_with(count: int) -> Prompt:
        lines = [f"- {' '.join(t.split())}" for t in texts[:count]]
        if count < len(texts):
            lines.append(f"(and {len(texts) - count} more)")
        user = render(template, {**values, "summaries": "\n".join(lines)})
        return Prompt(user, system=SYSTEM_PROMPT, fallback=fallback)

    low, high = 1, len(texts)  # the most summaries that fit (at least one is sent)
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(prompt_with(middle).messages) <= limit:
            low = middle
        else:
            high = middle - 1
    day, usage = client.complete([prompt_with(low)])
    return day[0], usage


def _day_fallback(texts: Sequence[str], flagged: int, total: int) -> str:
    """The counts, the terms at least two summaries share (most shared first), the first
    sentences."""
    share = f" ({flagged / total:.1%})" if total else ""
    parts = [f"{flagged} of {total} records were flagged{share}."]
    counts = Counter(word for t in texts for word in set(_WORD.findall(t.lower())))
    shared = sorted(
        (w for w, n in counts.items() if n >= 2 and w not in _COMMON), key=lambda w: (-counts[w], w)
    )[:5]
    if shared:
        parts.append(f"Common terms: {', '.join(shared)}.")
    if texts:
        parts.append(extractive_summary(texts))
    return " ".join(parts)


def _client(settings: LLMSettings | LLMClient | None) -> LLMClient:
    if isinstance(settings, LLMClient):
        return settings
    return LLMClient(settings or LLMSettings())


def _text(value: Any) -> str:
    """A cell as prompt text: ``(none)`` for None, NaN, NA or blank."""
    if value is None or (isinstance(value, float) and value != value):
        return MISSING
    import pandas as pd

    try:
        if bool(pd.isna(value)):
            return MISSING
    except (TypeError, ValueError):  # a list or array: not one missing value
        pass
    text = str(value).strip()
    return text or MISSING


def _cut(sentence: str) -> str:
    return sentence if len(sentence) <= SENTENCE_CHARS else sentence[: SENTENCE_CHARS - 1] + "…"
