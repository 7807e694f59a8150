"""Normalized layouts load with real Ludwig and predict exactly like the model they came from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import FIXTURES, MANIFEST, copy_fixture, make_fixtures, tree_digest

from ludwig_hub_export.source.layout import find_layout
from ludwig_hub_export.source.normalization import normalize

pytestmark = pytest.mark.ludwig


def predictions(model_dir: Path, kind: str) -> list:
    from ludwig_hub_export.source.ludwig_compat import load_model

    model = load_model(model_dir)
    data = make_fixtures.ecd_dataframe(8) if kind == "ecd" else make_fixtures.llm_dataframe().head(3)
    frame, _ = model.predict(data)
    return frame.iloc[:, 0].tolist()


@pytest.mark.parametrize("name,convert", [
    ("ecd_run", False), ("ecd_legacy_pickle", False), ("ecd_legacy_pickle", True), ("lora_run", False),
    ("lora_legacy_bin", True), ("lora_named_adapter", False), ("full_sharded", False), ("merged_run", False),
])
def test_normalized_model_loads_and_predicts_like_the_source(name: str, convert: bool, tmp_path: Path):
    source = copy_fixture(name, tmp_path)
    before = tree_digest(source)
    result = normalize(source, tmp_path / "normalized", convert_pickle=convert)
    kind = result.layout.kind
    assert predictions(result.model_dir, kind) == predictions(tmp_path / MANIFEST[name]["model_dir"], kind)
    assert tree_digest(source) == before


def _shape(files: list[str]) -> list[str]:
    # Event files are named after time, host and pid: compare their place, not their name.
    return sorted(re.sub(r"events\.out\.tfevents\..*", "events.out.tfevents.*", f) for f in files)


@pytest.mark.slow
def test_regenerated_fixtures_still_have_the_committed_layouts(tmp_path: Path):
    """A Ludwig release that changes what it writes fails here, not in a user's export. The hyperopt fixture's
    layout is held by test_hyperopt_real, which runs the same Ray hyperopt: one Ray start per suite, not two."""
    built = make_fixtures.build_all(tmp_path / "models", hyperopt=False)
    for name in MANIFEST:
        if name == "hyperopt_ecd":
            continue
        fresh, committed = built[name], FIXTURES / name
        assert _shape(list(tree_digest(fresh))) == _shape(list(tree_digest(committed))), name
        assert find_layout(fresh).kind == find_layout(committed).kind, name
