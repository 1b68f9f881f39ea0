"""Micro-batching: concurrent requests share predict calls; a bad request fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from mlfactory.serving.batching import BatchConfig, MicroBatcher


def test_concurrent_requests_are_coalesced_and_answered_in_order() -> None:
    batches: list[int] = []

    def run(payloads: Sequence[int]) -> list[int | Exception]:
        batches.append(len(payloads))
        return [p * 10 for p in payloads]

    async def main() -> list[int]:
        batcher = MicroBatcher(run, config=BatchConfig(max_batch_rows=64, max_wait_ms=20))
        try:
            return await asyncio.gather(*(batcher.submit(i, 1) for i in range(50)))
        finally:
            await batcher.close()

    assert asyncio.run(main()) == [i * 10 for i in range(50)]
    assert len(batches) < 10 and max(batches) > 5


def test_a_failing_request_fails_alone() -> None:
    def run(payloads: Sequence[int]) -> list[int | Exception]:
        if 13 in payloads and len(payloads) > 1:
            raise RuntimeError("the whole batch broke")
        if payloads == [13]:
            raise RuntimeError("13 is bad")
        return [p + 1 for p in payloads]

    async def main() -> list[object]:
        batcher = MicroBatcher(run, config=BatchConfig(max_batch_rows=64, max_wait_ms=20))
        try:
            return await asyncio.gather(
                *(batcher.submit(i, 1) for i in (11, 12, 13, 14)), return_exceptions=True
            )
        finally:
            await batcher.close()

    results = asyncio.run(main())
    assert results[:2] == [12, 13] and results[3] == 15
    assert isinstance(results[2], RuntimeError) and "13 is bad" in str(results[2])


def test_row_limit_caps_a_batch_and_batching_can_be_off() -> None:
    sizes: list[int] = []

    def run(payloads: Sequence[int]) -> list[int | Exception]:
        sizes.append(sum(payloads))
        return list(payloads)

    async def main(config: BatchConfig) -> None:
        batcher = MicroBatcher(run, config=config)
        try:
            await asyncio.gather(*(batcher.submit(5, 5) for _ in range(20)))
        finally:
            await batcher.close()

    asyncio.run(main(BatchConfig(max_batch_rows=20, max_wait_ms=20)))
    assert max(sizes) <= 20 and sum(sizes) == 100
    sizes.clear()
    asyncio.run(main(BatchConfig(enabled=False)))
    assert sizes == [5] * 20


@pytest.mark.parametrize("bad_first", [True, False])
def test_batched_validation_still_names_each_bad_request(
    bad_first: bool, trained: object, rows: list[dict[str, object]]
) -> None:
    """Through the real server: good and bad requests in one batch each get their answer."""
    import httpx

    from .conftest import serve

    async def fire(base: str) -> list[httpx.Response]:
        good = {"records": rows}
        missing_column = {"records": [{k: v for k, v in rows[0].items() if k != "age"}]}
        bad_value = {"records": [{**rows[0], "age": "old"}]}
        bodies = [missing_column, bad_value, good, good] if bad_first else [good, bad_value]
        async with httpx.AsyncClient(base_url=base) as http:
            return await asyncio.gather(
                *(http.post("/v1/models/mroz/predict", json=b) for b in bodies * 5)
            )

    with serve(["mroz@champion"], trained, batching=BatchConfig(max_wait_ms=50)) as base:
        answers = asyncio.run(fire(base))
    for answer in answers:
        body = answer.json()
        if answer.status_code == 200:
            assert len(body["predictions"]) == 5
        else:
            assert answer.status_code == 422
            assert "column 'age'" in body["error"]
    assert {a.status_code for a in answers} == {200, 422}


@pytest.mark.parametrize("with_a_bad_request", [False, True], ids=["batched", "one by one"])
def test_far_out_numbers_are_flagged_to_the_request_that_sent_them(
    with_a_bad_request: bool, trained: object, rows: list[dict[str, object]]
) -> None:
    """In one batch (validated at once, or request by request after a bad one), each answer
    names only its own far-out values, at their positions in its own rows."""
    import httpx

    from .conftest import serve

    far = [rows[0], {**rows[1], "inc": 1e308}, {**rows[2], "inc": 1e308}]
    bodies: list[dict[str, object]] = [{"records": rows}, {"records": far}, {"records": rows[3:]}]
    if with_a_bad_request:
        bodies.append({"records": [{**rows[0], "age": "old"}]})

    async def fire(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            return await asyncio.gather(
                *(http.post("/v1/models/mroz/predict", json=b) for b in bodies)
            )

    def batches(base: str) -> float:
        series = 'mlfactory_batch_rows_count{model="mroz"} '
        lines = httpx.get(f"{base}/metrics").text.splitlines()
        return float(next(s for s in lines if s.startswith(series)).rsplit(" ", 1)[1])

    with serve(["mroz@champion"], trained, batching=BatchConfig(max_wait_ms=300)) as base:
        before = batches(base)
        answers = asyncio.run(fire(base))
        assert batches(base) - before == 1  # all of them in one batch
    plain, flagged, small = (a.json() for a in answers[:3])
    assert flagged["out_of_range"] == {"inc": [1, 2]} and len(flagged["predictions"]) == 3
    assert "out_of_range" not in plain and "out_of_range" not in small
    assert [a.status_code for a in answers] == [200, 200, 200] + [422] * with_a_bad_request
