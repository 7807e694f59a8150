# The local Hub must start (and set HF_ENDPOINT) before any test imports huggingface_hub.
pytest_plugins = ["ludwig_hub_export.testing.pytest_plugin"]
