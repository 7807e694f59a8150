"""`left_out_files`: what a push does not upload, and why, so that the plan and the dry run say it."""

from __future__ import annotations

from .saved_model import MODEL_DIR_SKIP, RUN_FILES, WEIGHTS, ModelLayout

CARD = "README.md"


def left_out_files(layout: ModelLayout) -> dict[str, str]:
    """Every file of the model (and run) directory a push does not upload, and why. Keys are relative to the run
    directory (or the model directory when there is none); a directory left out whole is one key ending in "/"."""
    root = layout.run_dir or layout.model_dir
    uploaded = {str(p) for p in layout.files.values()}
    out: dict[str, str] = {}

    def rel(path) -> str:
        return path.relative_to(root).as_posix()

    for rel_path, why in layout.left_out.items():  # paths relative to the model directory
        out[rel(layout.model_dir / rel_path)] = why
    for name, source in layout.files.items():
        if name in RUN_FILES and name != "training_statistics.json":
            out[rel(source)] = "a record of the training run, with local paths of the training machine"
        elif name.rsplit("/", 1)[-1] == CARD and name.startswith("model/model_weights/"):
            out[rel(source)] = "PEFT's card: the card generated for the Hub replaces it"
    for top in filter(None, (layout.model_dir, layout.run_dir)):
        for path in sorted(top.iterdir()):
            if str(path) in uploaded or rel(path) in out or path in (layout.model_dir, layout.model_dir / WEIGHTS):
                continue
            if path.name in MODEL_DIR_SKIP:
                out[rel(path) + ("/" if path.is_dir() else "")] = "Ludwig's training state (checkpoints, logs, " \
                    "progress): not needed to load the model"
            elif path.is_dir():
                out[rel(path) + "/"] = "not part of a saved Ludwig model"
            elif path.name == CARD:
                out[rel(path)] = "the card is generated; a README.md of your own on the Hub is kept (--replace-card " \
                    "replaces it)"
            else:
                out[rel(path)] = "not part of a saved Ludwig model (its config, training_set_metadata.json and " \
                    "weights are)"
    return dict(sorted(out.items()))
