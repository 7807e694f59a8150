"""What a user runs: push, pull, load, a sweep of a hyperopt, the training callback and the Python API. Each is a
straight sequence of the layers below."""
