"""The command line (`ludwig-hub-export`): arguments in, a workflow run, a result and an exit code out."""
