"""Layer 1, the pure core: synchronous, no I/O, time passed in.

Nothing under this package may import a module that touches the network, the file system,
the clock or the environment; ``tests/test_layers.py`` checks it.
"""
