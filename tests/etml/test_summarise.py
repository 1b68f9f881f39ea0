"""What the ETML job sends the LLM and what it writes without one (tests/etml/fake_llm.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from etml.fake_llm import FakeLLM, answer_for
from mlfactory.errors import DataError, SpecError
from mlfactory.etml.llm import NO_ENDPOINT, Answer, LLMClient, LLMSettings, estimate_tokens
from mlfactory.etml.summarise import (
    DAY_FIELDS,
    SYSTEM_PROMPT,
    check_template,
    default_row_template,
    extractive_summary,
    render,
    summarise_day,
    summarise_rows,
)

TEXT = ["traffic", "weather", "news"]


def rides() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ride_id": [1, 2, 3],
            "traffic": [
                "Heavy congestion on the ring road. Two lanes closed.",
                "Light traffic.",
                None,
            ],
            "weather": ["Storm warning in the evening. Winds of 80 km/h.", "Clear.", "Fog."],
            "news": ["A concert ended at 23:00.", np.nan, "Roadworks on Main Street."],
            "passenger_phone": ["+44 7700 900001", "+44 7700 900002", "+44 7700 900003"],
        }
    )


def settings_for(fake: FakeLLM, tmp_path: Path, **overrides: Any) -> LLMSettings:
    options = {"base_url": fake.url, "model": "m", "cache_dir": tmp_path / "cache", "backoff": 0.01}
    return LLMSettings(**{**options, **overrides})


def test_a_template_naming_an_unlisted_column_is_a_problem() -> None:
    (problem,) = check_template("Ride: {traffic} {passenger_phone}", TEXT)
    assert problem == (
        "the template references column 'passenger_phone', which is not a listed text "
        "column ('traffic', 'weather', 'news')"
    )
    (problem,) = check_template("{wether}", TEXT)
    assert problem.endswith("(did you mean 'weather'?)")


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("Summarise this ride.", "the template references no column"),
        ("{traffic.__class__}", "write {traffic}"),
        ("{0} and {traffic}", "positional field {0}"),
        ("{traffic", "not a valid format string"),
        ("{traffic:{weather}}", "nests a field"),
    ],
)
def test_template_problems_say_what_to_write(template: str, says: str) -> None:
    problems = check_template(template, TEXT)
    assert len(problems) == 1 and says in problems[0]


def test_good_templates_have_no_problem() -> None:
    assert check_template(default_row_template(TEXT), TEXT) == []
    assert check_template("{news!r:>10} {{literal}} {news}", TEXT) == []


def test_render_writes_none_for_missing_values() -> None:
    row = {"traffic": None, "weather": float("nan"), "news": "  Quiet.  ", "other": pd.NA}
    assert render("{traffic}|{weather}|{news}|{absent}", row) == "(none)|(none)|Quiet.|(none)"


def test_extractive_summary_takes_first_sentences_in_turn() -> None:
    texts = ["Jam on A1. Lanes shut. Slow.", "Rain.   Cold wind.", "", "(none)"]
    assert extractive_summary(texts) == "Jam on A1. Rain. Lanes shut."
    assert extractive_summary(texts, sentences=5) == "Jam on A1. Rain. Lanes shut. Cold wind. Slow."
    assert extractive_summary(list(reversed(texts))) == "Rain. Jam on A1. Cold wind."
    assert extractive_summary(texts) == extractive_summary(list(texts))  # no state, no model
    assert extractive_summary([]) == ""
    long = extractive_summary(["word " * 200])
    assert len(long) == 300 and long.endswith("…")


def test_without_an_endpoint_every_row_gets_its_extractive_summary() -> None:
    answers, usage = summarise_rows(rides(), TEXT, None, None)
    assert [a.source for a in answers] == ["extractive"] * 3
    assert answers[0].text == (
        "Heavy congestion on the ring road. Storm warning in the evening. A concert ended at 23:00."
    )
    assert answers[1].text == "Light traffic. Clear."
    assert answers[2].text == "Fog. Roadworks on Main Street."
    assert usage.reasons == {NO_ENDPOINT: 3}
    assert summarise_rows(rides(), TEXT, None, LLMSettings())[0] == answers


def test_only_the_listed_columns_leave_the_machine(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers, usage = summarise_rows(
        rides(), ["traffic", "news"], None, settings_for(fake_llm, tmp_path)
    )
    assert [a.source for a in answers] == ["llm"] * 3
    assert fake_llm.calls == usage.calls == 3
    sent = fake_llm.sent()
    assert "7700 9000" not in sent and "Storm warning" not in sent  # phone, unlisted weather
    assert "Heavy congestion on the ring road" in sent
    assert {body["messages"][0]["content"] for body in fake_llm.bodies} == {SYSTEM_PROMPT}
    users = {body["messages"][1]["content"] for body in fake_llm.bodies}  # in any order
    assert (
        default_row_template(["traffic", "news"]).format(
            traffic="Heavy congestion on the ring road. Two lanes closed.",
            news="A concert ended at 23:00.",
        )
        in users
    )
    assert any(user.endswith("traffic: Light traffic.\nnews: (none)") for user in users)


def test_the_spec_template_is_what_is_sent(fake_llm: FakeLLM, tmp_path: Path) -> None:
    template = "Ride traffic: {traffic}. Weather: {weather}."
    answers, _ = summarise_rows(rides(), TEXT, template, settings_for(fake_llm, tmp_path))
    user = "Ride traffic: Light traffic.. Weather: Clear.."
    assert user in {body["messages"][1]["content"] for body in fake_llm.bodies}
    assert answers[1].text == answer_for(user)


def test_a_rerun_of_the_same_rows_makes_no_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    first, _ = summarise_rows(rides(), TEXT, None, settings_for(fake_llm, tmp_path))
    again, usage = summarise_rows(rides(), TEXT, None, settings_for(fake_llm, tmp_path))
    assert fake_llm.calls == 3 and usage.calls == 0 and usage.cached == 3
    assert [a.text for a in again] == [a.text for a in first]


def test_a_missing_text_column_is_a_data_error() -> None:
    with pytest.raises(DataError, match="column 'comments' is not in the data") as raised:
        summarise_rows(rides(), ["traffic", "comments"], None, None)
    assert "summarise.columns" in str(raised.value)


def test_a_template_with_an_unknown_column_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"summarise\.template is invalid") as raised:
        summarise_rows(rides(), TEXT, "{traffic} {passenger_phone}", None)
    assert "column 'passenger_phone'" in raised.value.problems[0]


def test_no_rows_make_no_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers, usage = summarise_rows(rides().iloc[:0], TEXT, None, settings_for(fake_llm, tmp_path))
    assert answers == [] and usage.calls == 0 and fake_llm.calls == 0


def row_answers(*texts: str) -> list[Answer]:
    return [Answer(t, "llm") for t in texts]


def test_the_day_is_summarised_from_the_row_summaries(fake_llm: FakeLLM, tmp_path: Path) -> None:
    answers = row_answers("Storm delays near the stadium.", "Storm closed the bridge.")
    day, usage = summarise_day(answers, 2, 40, None, settings_for(fake_llm, tmp_path))
    assert day.source == "llm" and usage.calls == 1
    user = fake_llm.bodies[0]["messages"][1]["content"]
    assert user.startswith("2 of 40 records were flagged")
    assert user.endswith("- Storm delays near the stadium.\n- Storm closed the bridge.")
    assert day.text == answer_for(user)


def test_the_day_prompt_is_cut_to_the_budget_left(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path
) -> None:
    fake = start_fake_llm(usage=(100, 20))
    settings = settings_for(fake, tmp_path, token_budget=700, max_tokens=50)
    client = LLMClient(settings)
    many = row_answers(*[f"Ride {i} was stuck behind a parade for an hour." for i in range(60)])
    day, _ = summarise_day(many, 60, 900, None, client)
    assert day.source == "llm" and fake.calls == 1
    messages = fake.bodies[0]["messages"]
    assert estimate_tokens(messages) + 50 <= 700
    assert "Ride 0 was stuck" in messages[1]["content"]
    assert messages[1]["content"].rstrip().endswith("more)")


def test_the_day_shares_the_rows_client_so_a_refused_key_stops_it_too(
    start_fake_llm: Callable[..., FakeLLM], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = start_fake_llm(api_key="right")
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    client = LLMClient(settings_for(fake, tmp_path, concurrency=1))
    rows, _ = summarise_rows(rides(), TEXT, None, client)
    day, usage = summarise_day(rows, 3, 10, None, client)
    assert fake.calls == 1 and usage.calls == 0
    assert day.source == "extractive" and "HTTP 401" in (day.reason or "")
    assert day.text.startswith("3 of 10 records were flagged (30.0%).")


def test_the_day_fallback_names_shared_terms_and_is_deterministic() -> None:
    answers = row_answers(
        "Storm flooding closed the bridge. Drivers waited.",
        "Flooding near the stadium after the storm.",
        "A parade blocked Main Street.",
    )
    day, usage = summarise_day(answers, 3, 120, None, None)
    assert day.text == (
        "3 of 120 records were flagged (2.5%). Common terms: flooding, storm. "
        "Storm flooding closed the bridge. Flooding near the stadium after the storm. "
        "A parade blocked Main Street."
    )
    assert (day.source, day.reason) == ("extractive", NO_ENDPOINT)
    assert summarise_day(answers, 3, 120, None, None)[0] == day
    assert usage.reasons == {NO_ENDPOINT: 1}


def test_a_day_with_nothing_flagged_makes_no_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    day, _ = summarise_day([], 0, 500, None, settings_for(fake_llm, tmp_path))
    assert day.text == "0 of 500 records were flagged (0.0%)."
    assert fake_llm.calls == 0


def test_a_day_template_must_use_the_day_fields() -> None:
    with pytest.raises(SpecError, match="day_template") as raised:
        summarise_day(row_answers("x"), 1, 2, "{flagged} of {rows}", None)
    assert f"{DAY_FIELDS[1]!r}" in raised.value.problems[0]
