"""A short fault soak (the full one is benchmarks/fault_soak.py): random failures of many kinds, and still every
export verified, no commit made twice, no incomplete repo marked complete, sources unchanged. On Xet and on LFS."""

from __future__ import annotations

from helpers import BASE, copy_fixture

from ludwig_hub_export.testing.soak import run_soak


def test_short_fault_soak(tmp_path, local_hub, base_on_hub, monkeypatch, transfer_protocol):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    sources = [copy_fixture(name, tmp_path) for name in ("ecd_saved", "lora_saved", "full_sharded", "merged_run")]
    lines = []
    result = run_soak(local_hub, sources, exports=8, probability=0.3, seed=7, base_model=BASE, say=lines.append)
    assert result.ok, "\n".join(result.lines() + lines)
    assert result.exports == result.verified == 8
    assert sum(result.faults_fired.values()) >= 8  # the soak did meet failures
    assert result.token_refreshes == 1
