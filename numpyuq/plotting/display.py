"""Showing a written figure where the reader is: inline in a notebook, as a path in a terminal."""
import sys


def in_notebook():
    """True inside a Jupyter kernel (IPython with a kernel attached); decided without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def show(path):
    """Display the image file at ``path`` inline in a notebook (and in the executed tutorials of the
    documentation site); print ``wrote <path>`` anywhere else. Returns ``path``."""
    if in_notebook():
        from IPython.display import Image, display
        display(Image(filename=str(path)))
    else:
        print("wrote", path)
    return path
