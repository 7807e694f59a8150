"""What lands in the repo: the plan (each file's path, bytes and digest), the model card, the manifest, and the
rules for paths that come back from a repo."""
