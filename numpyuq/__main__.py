"""``python -m numpyuq``: the same as the ``numpyuq`` command."""
from .cli import main

main()
