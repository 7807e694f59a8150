"""Talking to the Hub, through huggingface_hub's public API only: the session and its one retry policy, the
token, the revision, sending, committing, downloading."""
