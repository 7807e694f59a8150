"""`left_out_files`: what a push does not upload from the model (and run) directory, and why, so that the plan and
the dry run say it rather than leave files out silently (issue 27 #7)."""

from __future__ import annotations

from .saved_model import MODEL_DIR_SKIP, RUN_FILES, ModelLayout

CARD = "README.md"


def left_out_files(layout: ModelLayout) -> dict[str, str]:
    """Every file of the model (and of its run) directory that a push does not upload, and why: for the plan and
    the dry run to say, rather than leave it out silently. Keys are relative to the run directory (or the model
    directory when there is none); a directory left out whole is one key ending in "/"."""
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
    tops = [layout.model_dir] + ([layout.run_dir] if layout.run_dir is not None else [])
    for top in tops:
        for path in sorted(top.iterdir()):
            if str(path) in uploaded or rel(path) in out or path == layout.model_dir:
                continue
            if path.name in MODEL_DIR_SKIP:
                out[rel(path) + ("/" if path.is_dir() else "")] = "Ludwig's training state (checkpoints, logs, " \
                    "progress): not needed to load the model"
            elif path.is_dir():
                if path != layout.model_dir / "model_weights":
                    out[rel(path) + "/"] = "not part of a saved Ludwig model"
            elif path.name == CARD:
                out[rel(path)] = "the card is generated; a README.md of your own on the Hub is kept (--replace-card " \
                    "replaces it)"
            else:
                out[rel(path)] = "not part of a saved Ludwig model (its config, training_set_metadata.json and " \
                    "weights are)"
    return dict(sorted(out.items()))
