"""Talking to the Hub, through huggingface_hub's public API only: the session and its one retry policy (which
pull, load and sweeps use too), the token, the revision, sending, committing, downloading."""
