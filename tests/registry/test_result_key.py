"""The unique key of a transfer result: (model, task, protocol, metric, repeat).

Measuring a pair again adds a row (its ``repeat`` one past the last); a job's
unit writes only the first (repeat 0) and a duplicate is skipped, not an
error; a registry at 0003 holding repeated measurements upgrades with every
row kept and numbered; export/import keeps the rows and their numbering.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

import registry
from registry.engine import parse_url
from registry.orm import TransferResultRow, utcnow
from registry.schema import downgrade
from registry.schema import upgrade as upgrade_to
from registry.store import Store
from zoo.api.jobs_units import _insert_once, add_transfer_result_once

KEY = ["model_id", "task_id", "protocol", "metric", "repeat"]


def _add(store: Store, value: float, *, model: str = "m", task: str = "t", protocol: str = "p") -> None:
    store.add_transfer_result(
        model, task, metric="error", value=value, protocol=protocol, protocol_params={}, train_size=1, test_size=2
    )


def _registry(store: Store) -> Store:
    store.add_model("m", "timm:m")
    store.add_model("n", "timm:n")
    store.add_task("t", data_uri="/t", num_classes=2, num_samples=4, fingerprint="f")
    return store


def _repeats(store: Store) -> list[tuple[str, str, str, float, int]]:
    """(model, task, protocol, value, repeat) of every result, in the order recorded."""

    def read(session):
        rows = session.scalars(select(TransferResultRow).order_by(TransferResultRow.id))
        return [(r.model.name, r.task.name, r.protocol, r.value, r.repeat) for r in rows]

    return store.run(read, write=False)


def test_the_key_exists_after_upgrade(store_url):
    registry.upgrade(store_url)
    engine = create_engine(parse_url(store_url))
    try:
        constraints = inspect(engine).get_unique_constraints("transfer_results")
    finally:
        engine.dispose()
    assert {"name": "uq_transfer_results_key", "columns": KEY} in [
        {"name": c["name"], "columns": c["column_names"]} for c in constraints
    ]


def test_measuring_again_adds_a_numbered_row_and_the_key_refuses_a_clash(store):
    _registry(store)
    for value in (0.5, 0.25, 0.125):
        _add(store, value)
    _add(store, 0.75, model="n")
    _add(store, 0.5, protocol="q")
    assert _repeats(store) == [
        ("m", "t", "p", 0.5, 0),
        ("m", "t", "p", 0.25, 1),
        ("m", "t", "p", 0.125, 2),
        ("n", "t", "p", 0.75, 0),
        ("m", "t", "q", 0.5, 0),
    ]

    def clash(session):
        row = session.scalars(select(TransferResultRow).order_by(TransferResultRow.id)).first()
        session.add(
            TransferResultRow(
                model_id=row.model_id,
                task_id=row.task_id,
                metric="error",
                value=0.0,
                protocol="p",
                protocol_params={},
                train_size=1,
                test_size=1,
                created_at=utcnow(),
                repeat=1,
            )
        )
        session.flush()

    with pytest.raises(IntegrityError):
        store.transact(clash, write=True)
    assert len(_repeats(store)) == 5


def test_a_duplicate_write_from_a_unit_is_skipped_not_an_error(store):
    _registry(store)
    out = {"model": "m", "task": "t", "value": 0.25, "protocol": "p", "protocol_params": {}}
    out.update(train_size=1, test_size=2)
    assert add_transfer_result_once(store, out) is True
    assert add_transfer_result_once(store, {**out, "value": 0.5}) is False
    token = store.revision_token("transfer_results")

    def race(session):  # a writer that checked before the first row landed: its insert conflicts
        first = session.scalars(select(TransferResultRow)).one()
        row = {c: getattr(first, c) for c in ("model_id", "task_id", "metric", "protocol", "train_size", "test_size")}
        row.update(value=0.75, protocol_params={}, created_at=utcnow(), repeat=0)
        return _insert_once(session, TransferResultRow.__table__, row)

    assert store.run(race, write=True) is False
    assert _repeats(store) == [("m", "t", "p", 0.25, 0)]
    assert store.revision_token("transfer_results") == token
    _add(store, 0.5)  # measured again by hand: a second row, and the unit still skips
    assert add_transfer_result_once(store, out) is False
    assert [r[-1] for r in _repeats(store)] == [0, 1]


def _insert_raw(url: str, statements: list[str]) -> None:
    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def test_a_registry_with_repeated_results_upgrades_keeping_every_row_numbered(store_url):
    upgrade_to(store_url, "0003")
    stamp = "'2026-01-02 03:04:05'"
    result = (
        "INSERT INTO transfer_results (model_id, task_id, metric, value, protocol, protocol_params, "
        "train_size, test_size, created_at) VALUES ({m}, 1, 'error', {v}, 'p', '{{}}', 1, 2, " + stamp + ")"
    )
    _insert_raw(
        store_url,
        [
            f"INSERT INTO models (name, source, created_at) VALUES ('m', 'timm:m', {stamp})",
            f"INSERT INTO models (name, source, created_at) VALUES ('n', 'timm:n', {stamp})",
            "INSERT INTO tasks (name, data_uri, num_classes, num_samples, fingerprint, created_at) "
            f"VALUES ('t', '/t', 2, 4, 'f', {stamp})",
            *(result.format(m=m, v=v) for m, v in [(1, 0.5), (2, 0.1), (1, 0.25), (1, 0.125), (2, 0.2)]),
        ],
    )
    assert registry.upgrade(store_url) == registry.head_revision() == "0004"
    with Store.open(store_url, create=False) as store:
        assert _repeats(store) == [
            ("m", "t", "p", 0.5, 0),
            ("n", "t", "p", 0.1, 0),
            ("m", "t", "p", 0.25, 1),
            ("m", "t", "p", 0.125, 2),
            ("n", "t", "p", 0.2, 1),
        ]
        _add(store, 0.0625)
        assert _repeats(store)[-1] == ("m", "t", "p", 0.0625, 3)
    assert downgrade(store_url, "0003") == "0003"
    assert registry.upgrade(store_url) == "0004"
    with Store.open(store_url, create=False) as store:
        assert [r[-1] for r in _repeats(store)] == [0, 0, 1, 2, 1, 3]


def test_export_import_round_trip_keeps_rows_and_repeats(store, tmp_path):
    _registry(store)
    for value in (0.5, 0.25):
        _add(store, value)
    _add(store, 0.75, model="n")
    _add(store, 0.125)
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    store.export_jsonl(first)
    with Store.open(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        copy.import_jsonl(first)
        copy.export_jsonl(second)
        assert _repeats(copy) == _repeats(store)
    assert first.read_text().splitlines()[1:] == second.read_text().splitlines()[1:]
