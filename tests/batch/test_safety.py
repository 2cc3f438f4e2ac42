"""A batch that never mixes stale results: resume checks, output failures, bad market rows, corrupt files."""

from __future__ import annotations

import errno
import json
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from batch_books import DATE, small_book
from optimizer.batch import execute, load_book
from optimizer.batch.errors import BatchRunError, BookChangedError, OutputError
from optimizer.batch.faults import FailWrites
from optimizer.batch.output import day_dir, leftovers, part_dirs
from optimizer.batch.runner import _check_workers, _connect, see_output
from optimizer.errors import InputError
from problems.books import write_duckdb_book, write_parquet_book


def _read(out, table):
    return pd.read_parquet(day_dir(out, DATE) / f"{table}.parquet")


def _orders(out):
    return _read(out, "orders").sort_values(["account_id", "asset"]).reset_index(drop=True)


def test_resume_refuses_a_changed_book_and_rerun_changed_never_mixes(tmp_path, batch_client):
    tables = small_book()
    book = write_parquet_book(tables, tmp_path / "book")
    out = tmp_path / "out"
    execute(book, DATE, out, client=batch_client, progress=False, chunk_size=4)
    before = (day_dir(out, DATE) / "manifest.json").read_text()

    # prices +50% and a third of the accounts removed: the scenario
    changed = {k: v.copy() for k, v in tables.items()}
    changed["market"]["price"] *= 1.5
    keep = sorted(changed["accounts"]["account_id"])[:8]
    for name in ("accounts", "lots", "restrictions"):
        changed[name] = changed[name][changed[name]["account_id"].isin(keep)]
    write_parquet_book(changed, book)
    with pytest.raises(BookChangedError, match="market.parquet") as refused:
        execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert "--rerun-changed" in str(refused.value)
    assert (day_dir(out, DATE) / "manifest.json").read_text() == before  # nothing touched

    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True, rerun_changed=True)
    assert (summary.total, summary.done, summary.skipped) == (8, 8, 0)  # the market changed: all solved again
    fresh = tmp_path / "fresh"
    execute(book, DATE, fresh, client=batch_client, progress=False, chunk_size=3)
    assert set(_read(out, "diagnostics")["account_id"]) == set(keep)
    pd.testing.assert_frame_equal(_orders(out), _orders(fresh))
    prices = load_book(book)["market"].set_index("asset")["price"]
    orders = _orders(out)
    np.testing.assert_allclose(orders["price"], prices.loc[orders["asset"]].to_numpy())  # the new prices

    # only one account's own rows change: only it is solved again
    again = {k: v.copy() for k, v in changed.items()}
    again["accounts"].loc[again["accounts"]["account_id"] == keep[2], "cash_usd"] += 50_000.0
    write_parquet_book(again, book)
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True, rerun_changed=True)
    assert (summary.done, summary.skipped) == (1, 7)
    diag = _read(out, "diagnostics").set_index("account_id")
    assert diag.loc[keep[2], "run_id"] == json.loads((day_dir(out, DATE) / "manifest.json").read_text())["run_id"]
    # and the same book again resumes without complaint, solving nothing
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert (summary.done, summary.skipped) == (0, 8)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_output_stops_cleanly_and_a_rerun_finishes(tmp_path, batch_client, code):
    book = write_parquet_book(small_book(), tmp_path / "book")
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="cannot write") as stopped:
        execute(book, DATE, out, client=batch_client, progress=False, chunk_size=3, fault=FailWrites(1, code))
    assert isinstance(stopped.value, BatchRunError)  # exit code 3 in the CLI
    assert leftovers(out) == []  # no .tmp-* folders, no temporary files
    manifest = json.loads((day_dir(out, DATE) / "manifest.json").read_text())
    assert manifest["aborted"] and manifest["counts"]["ok"] == len(part_dirs(day_dir(out, DATE))) * 3
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert summary.failed == 0 and summary.done + summary.skipped == 12
    clean = tmp_path / "clean"
    execute(book, DATE, clean, client=batch_client, progress=False, chunk_size=4)
    pd.testing.assert_frame_equal(_orders(out), _orders(clean))


def test_a_run_stopped_by_a_failed_write_lets_its_chunks_in_flight_end(tmp_path, batch_client):
    """A chunk waits on the worker behind the one whose write fails; Dask cannot cancel it once
    started. Its refused write is slow (2 s with its temporary part folder on disk): the run must
    not return before it ends, so no temporary folder is left behind."""
    book = write_parquet_book(small_book(), tmp_path / "book")
    execute(book, DATE, tmp_path / "warm", client=batch_client, progress=False, chunk_size=3)  # programs built
    out = tmp_path / "out"
    with pytest.raises(OutputError, match="cannot write"):
        execute(book, DATE, out, client=batch_client, progress=False, chunk_size=2,
                fault=FailWrites(1, errno.ENOSPC, delay_s=2.0))
    assert leftovers(out) == []


def test_a_nan_price_fails_only_the_accounts_that_hold_it(tmp_path, batch_client):
    tables = small_book()
    bad_asset = "A0003"
    tables["market"].loc[tables["market"]["asset"] == bad_asset, "price"] = float("nan")
    holders = ["ACC000000", "ACC000005", "ACC000009"]
    lots = tables["lots"]
    tables["lots"] = lots[(lots["asset"] != bad_asset) | lots["account_id"].isin(holders)]
    book = write_parquet_book(tables, tmp_path / "book")
    out = tmp_path / "out"
    summary = execute(book, DATE, out, client=batch_client, progress=False, chunk_size=4)
    diag = _read(out, "diagnostics").set_index("account_id")
    for account_id in holders:
        assert diag.loc[account_id, "error_type"] == "InputError"
        assert "prices" in diag.loc[account_id, "reason"] and bad_asset in diag.loc[account_id, "reason"]
    others = diag.drop(index=holders)
    assert (others["status"] == "ok").all() and (summary.done, summary.failed) == (9, 3)
    assert others["notes"].str.contains(f"{bad_asset} frozen").all()
    assert bad_asset not in set(_read(out, "orders")["asset"])  # not traded by anyone


def test_corrupt_book_files_are_named(tmp_path):
    tables = small_book()
    folder = write_parquet_book(tables, tmp_path / "book")
    (folder / "market.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InputError, match="market.parquet") as raised:
        load_book(folder)
    assert "not a readable Parquet file" in str(raised.value)
    file = write_duckdb_book(tables, tmp_path / "book.duckdb")
    file.write_bytes(file.read_bytes()[:4096])
    with pytest.raises(InputError, match="book.duckdb"):
        load_book(file)


def test_cluster_start_is_retried_then_reported(monkeypatch):
    import distributed

    calls = []

    class Flaky:
        def __init__(self, **kwargs):
            calls.append(kwargs)
            raise RuntimeError("Nanny failed to start")

    monkeypatch.setattr(distributed, "LocalCluster", Flaky)
    monkeypatch.setattr("optimizer.batch.runner.time.sleep", lambda s: None)
    with pytest.raises(BatchRunError, match="after 3 tries.*Nanny failed to start"):
        _connect(None, 2, tries=3)
    assert len(calls) == 3
    assert calls[0]["dashboard_address"] is None and calls[0]["host"] == "127.0.0.1"  # safe by default
    assert calls[0]["scheduler_kwargs"]["dashboard_address"].startswith("127.0.0.1:")


def test_a_local_cluster_serves_nothing_beyond_this_machine():
    """No dashboard; the HTTP endpoints Dask keeps (health) listen on 127.0.0.1 only, in both cluster kinds."""
    from optimizer.batch.runner import _close

    for processes in (False, True):
        client, cluster = _connect(None, 1, processes=processes)
        try:
            scheduler = [s.getsockname()[0] for s in cluster.scheduler.http_server._sockets.values()]
            workers = client.run(lambda dask_worker: [s.getsockname()[0]
                                                      for s in dask_worker.http_server._sockets.values()])
            assert set(scheduler) == {"127.0.0.1"}
            assert {host for hosts in workers.values() for host in hosts} == {"127.0.0.1"}
            port = next(iter(cluster.scheduler.http_server._sockets.values())).getsockname()[1]
            with pytest.raises(urllib.error.HTTPError, match="404"):  # the dashboard page is not served
                urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10)
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).status == 200
        finally:
            _close(client, cluster)


def test_a_worker_that_cannot_see_the_output_fails_fast(tmp_path):
    probe = tmp_path / "_parts" / ".probe-abc"
    assert see_output(str(probe)).startswith("FileNotFoundError")  # what a worker on another machine sees
    probe.parent.mkdir()
    probe.write_text(probe.name)
    assert see_output(str(probe)) == ""

    class Client:
        def run(self, function, *args, workers, on_error):
            return {w: (function(*args) if w == "tcp://here:1" else see_output(str(tmp_path / "elsewhere")))
                    for w in workers}

    _check_workers(Client(), ["tcp://here:1"], probe)
    with pytest.raises(OutputError, match="tcp://there:2 cannot see the output folder.*shared the filesystem|"
                                          "tcp://there:2 cannot see the output folder.*share the filesystem"):
        _check_workers(Client(), ["tcp://here:1", "tcp://there:2"], probe)


def test_resume_with_other_order_options_is_refused_too(tmp_path, batch_client):
    book = write_parquet_book(small_book(6), tmp_path / "book")
    out = tmp_path / "out"
    execute(book, DATE, out, client=batch_client, progress=False, chunk_size=3)
    with pytest.raises(BookChangedError, match="order options"):  # whole shares, then fractional: never mixed
        execute(book, DATE, out, client=batch_client, progress=False, resume=True, whole_shares=False)
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True, whole_shares=False,
                      rerun_changed=True)
    assert (summary.done, summary.skipped) == (6, 0)
    assert (_read(out, "orders")["shares"] % 1 != 0).any()  # fractional now, every account


def test_a_damaged_part_is_set_aside_and_its_accounts_solved_again(tmp_path, batch_client):
    book = write_parquet_book(small_book(6), tmp_path / "book")
    out = tmp_path / "out"
    execute(book, DATE, out, client=batch_client, progress=False, chunk_size=3)
    clean = _orders(out)
    first = part_dirs(day_dir(out, DATE))[0]
    damaged = set(pd.read_parquet(first / "diagnostics.parquet")["account_id"])
    (first / "diagnostics.parquet").write_bytes(b"PAR1 cut short by a power loss")
    summary = execute(book, DATE, out, client=batch_client, progress=False, resume=True)
    assert (summary.done, summary.skipped) == (len(damaged), 6 - len(damaged))
    pd.testing.assert_frame_equal(_orders(out), clean)
    assert leftovers(out) == []
