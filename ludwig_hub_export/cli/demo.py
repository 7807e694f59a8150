"""`ludwig-hub-export demo`: the whole job, end to end, on an embedded local Hub (nothing leaves the machine).

check -> push -> push again (resume: nothing to send) -> pull -> LudwigModel.load -> predict, on a LoRA model
that real Ludwig trained (the repo's fixtures). Needs a checkout of the project (for fixtures/).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _say(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run_demo(keep: bool = False) -> int:
    fixtures = ROOT / "fixtures"
    if not (fixtures / "models" / "lora_run").is_dir():
        raise UsageError(f"the demo uses the project's fixtures, not found under {fixtures}",
                         "run it from a checkout of ludwig-hub-export (make demo)")
    from ..testing import LocalHub

    work = Path(tempfile.mkdtemp(prefix="ludwig-hub-export-demo-"))
    if not sys.stderr.isatty():  # progress bars only on a terminal
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    hub = LocalHub(data_dir=work / "hub", user="demo").start()
    # The client reads these when huggingface_hub is first imported, which happens below.
    os.environ.update(hub.env(token=hub.token, hf_home=work / "hf-home"))
    os.environ["LUDWIG_HUB_EXPORT_CACHE"] = str(work / "cache")
    try:
        return _demo(work, hub, fixtures)
    finally:
        hub.stop()
        if keep:
            print(f"\n(kept {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _demo(work: Path, hub, fixtures: Path) -> int:
    sys.path.insert(0, str(fixtures))
    import make_fixtures

    from ..source.checks import check
    from ..source.ludwig_compat import load_model
    from ..workflows.pull import pull
    from ..workflows.push import ExportSettings, push

    _say(f"a local Hub is serving at {hub.url} (user 'demo')")
    model = work / "lora_run"
    base = work / "tiny-llama"
    shutil.copytree(fixtures / "models" / "lora_run", model)
    shutil.copytree(fixtures / "models" / "_base" / "tiny-llama", base)
    make_fixtures.repoint_base_model(model, base)
    print(f"model: a LoRA adapter trained by `LudwigModel.train` -> {model}/results/api_experiment_run")

    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("demo/tiny-llama")
    api.upload_folder(repo_id="demo/tiny-llama", folder_path=base)
    print("its base model is published as demo/tiny-llama (so the adapter can name it by Hub id)")

    _say("check, as it was trained (the adapter names its base model by a local path)")
    print(check(model).format())
    _say("check --base-model demo/tiny-llama")
    print(check(model, base_model="demo/tiny-llama").format())

    _say("push --repo-id demo/lora-demo --base-model demo/tiny-llama")
    settings = ExportSettings(repo_id="demo/lora-demo", base_model="demo/tiny-llama", interactive=False)
    report = push(model, settings)
    for f in report.files:
        print(f"  {f.status:13} {f.path:30} {f.size:>9} bytes  sha256 {f.sha256[:12]}...")
    print(f"landed: {report.url} @ {report.commit_oid} (verified: {report.verified})")

    _say("push again: a rerun resumes, so a complete export sends nothing")
    again = push(model, settings)
    print(f"commits made: {len(again.commits)}, bytes uploaded: {again.bytes_uploaded}")

    _say("pull demo/lora-demo, verified against ludwig_export.json, into model/ for LudwigModel.load")
    pulled = pull("demo/lora-demo", work / "pulled")
    for repo_path, local in pulled.files.items():
        print(f"  {repo_path:30} -> {Path(local).relative_to(work)}")

    _say("LudwigModel.load(pulled/model) and predict, beside the original")
    import logging

    from ..deps import quiet_for_commands

    quiet_for_commands()

    for name in ("httpx", "httpx2"):  # Ludwig turns on INFO logging, which lists every HTTP request
        logging.getLogger(name).setLevel(logging.WARNING)
    data = make_fixtures.llm_dataframe().head(3)
    original = load_model(model / "results" / "api_experiment_run" / "model").predict(data)[0]
    restored = load_model(pulled.model_dir).predict(data)[0]
    column = original.columns[0]
    for prompt, a, b in zip(data["instruction"], original[column], restored[column]):
        print(f"  {prompt[:40]!r:44} original={list(a)} pulled={list(b)}")
    same = original[column].tolist() == restored[column].tolist()
    print(f"\npredictions identical: {same}")
    return 0 if same else 1
