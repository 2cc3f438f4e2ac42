"""Backtest checkpoints are verified (magic, version, HMAC) before anything in them is unpickled."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from optimizer.backtest.errors import CheckpointError
from optimizer.backtest.simulator import CHECKPOINT_VERSION, Simulator, open_checkpoint, seal_checkpoint


class _Planted:
    """Unpickling this runs code: it creates the file named by ``marker``."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("REBALANCE_CHECKPOINT_KEY", "test-key")


def test_a_planted_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "run.ckpt"
    path.write_bytes(pickle.dumps({"version": CHECKPOINT_VERSION, "x": _Planted(str(marker))}))
    with pytest.raises(CheckpointError, match="not a sealed"):
        Simulator._load(path, "fingerprint")
    assert not marker.exists()
    # the same bytes behind a forged header (wrong key) are refused too, still without unpickling
    os.environ["REBALANCE_CHECKPOINT_KEY"] = "attacker-key"
    forged = seal_checkpoint(pickle.dumps(_Planted(str(marker))))
    os.environ["REBALANCE_CHECKPOINT_KEY"] = "test-key"
    path.write_bytes(forged)
    with pytest.raises(CheckpointError, match="signature"):
        Simulator._load(path, "fingerprint")
    assert not marker.exists()


def test_a_sealed_checkpoint_opens_and_any_altered_byte_is_refused(tmp_path):
    data = pickle.dumps({"version": CHECKPOINT_VERSION, "fingerprint": "f", "next_step": 3})
    sealed = seal_checkpoint(data)
    assert open_checkpoint(sealed) == data
    for position in (len(sealed) - 1, len(sealed) // 2, 12):
        altered = bytearray(sealed)
        altered[position] ^= 0x01
        with pytest.raises(CheckpointError):
            open_checkpoint(bytes(altered))
    path = tmp_path / "ok.ckpt"
    path.write_bytes(sealed)
    assert Simulator._load(path, "f")["next_step"] == 3
    with pytest.raises(CheckpointError, match="another run"):
        Simulator._load(path, "other")
