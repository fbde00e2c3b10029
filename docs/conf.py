"""Sphinx configuration of the numpyuq site. Build it with ``make docs`` (``docs/build.py``), which
first writes ``docs/_generated``: the tutorials as notebooks, the annotated source pages, the
results, and KaTeX from the npm registry, so that nothing is fetched from a CDN."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

project = "numpyuq"
author = "the numpyuq authors"
copyright = "2026, the numpyuq authors; Apache License 2.0"
release = version = __import__("numpyuq").__version__
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "build.py", "figures", "README*", "_generated/extra", "_generated/static",
                    "_generated/results/*.md", "**.ipynb_checkpoints"]
html_theme = "furo"
html_title = "numpyuq"
html_static_path = ["_generated/static"]
html_extra_path = ["_generated/extra"]          # annotated source pages and downloads, copied as they are
html_show_sourcelink = False
html_favicon = "_generated/static/favicon.png"

# Math: sphinx.ext.mathjax writes each formula as \( ... \) in an element of class "math"; KaTeX,
# vendored from the npm registry by docs/build.py, typesets them (render.js), with nothing from a CDN.
mathjax_path = "katex/render.js"
html_css_files = ["katex/katex.min.css"]
html_js_files = [("katex/katex.min.js", {"defer": "defer"}), ("katex/auto-render.min.js", {"defer": "defer"})]
myst_enable_extensions = ["dollarmath", "amsmath"]

# Tutorials: executed at build time (NUMPYUQ_FAST=1 shrinks them, as in the tests).
nb_execution_mode = "force"
nb_execution_timeout = int(os.environ.get("NUMPYUQ_DOCS_TIMEOUT", "3600"))
nb_execution_raise_on_error = True
nb_merge_streams = True
nb_output_stderr = "remove"         # warnings of third-party imports in the kernel are not the lesson

# API reference.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
suppress_warnings = ["myst.header", "misc.highlighting_failure"]


# ---- docstrings as written ---------------------------------------------------------------------
# numpyuq's docstrings are plain text with Google-style sections, read by people in an editor and
# in help(): |x| is an absolute value, * a product, and an indented line under a sentence is a
# formula. Before napoleon reads them, escape what reST would take for markup and turn each
# indented formula outside a section into a literal block, so that the page shows them as written.
import re  # noqa: E402

SECTION = re.compile(r"^\s*(Args|Arguments|Returns|Raises|Yields|Attributes|Buffers|Example|Examples|Note|Notes|"
                     r"Other Parameters|Keyword Args|Warning|Warns):\s*$")
CODE = re.compile(r"(``.*?``)")


BULLET = re.compile(r"^(\s*(?:[*-]|\d+\.)\s+)")


def escape_markup(line):
    bullet = BULLET.match(line)
    head, line = (bullet.group(1), line[bullet.end():]) if bullet else ("", line)
    parts = CODE.split(line)
    return head + "".join(p if p.startswith("``") else re.sub(r"([|*]|_(?=\W|$))", r"\\\1", p) for p in parts)


def tidy_docstring(app, what, name, obj, options, lines):
    out, in_section, in_formula, item = [], False, False, None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if not line.strip():
            out.append(line)
            continue
        bullet = BULLET.match(line)
        if SECTION.match(line):
            in_section, in_formula, item = True, False, None
        elif indent == 0 or (bullet and not in_formula and not in_section):
            if in_formula:
                out.append("")
            in_section = in_formula = False
            item = len(bullet.group(1)) if bullet else None
        elif item is not None and indent <= item and not in_formula:
            pass                                      # a list item's continuation line
        elif not in_section and not in_formula:       # an indented formula under a sentence
            previous = next((i for i in range(len(out) - 1, -1, -1) if out[i].strip()), None)
            if previous is not None:
                out[previous] = out[previous].rstrip() + ("::" if out[previous].rstrip().endswith(":") else " ::")
                out.append("")
            in_formula, item = True, None
        out.append(line if in_formula else escape_markup(line))
    lines[:] = out


def skip_member(app, what, name, obj, skip, options):
    """Private helpers stay out, and so do a NamedTuple's generated field entries ("Alias for field
    number 0"): the class docstring and the fields' comments in the source say what they hold."""
    if name.startswith("_"):
        return True
    if (getattr(obj, "__doc__", None) or "").startswith("Alias for field number"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-process-docstring", tidy_docstring, priority=400)      # before napoleon (500)
    app.connect("autodoc-skip-member", skip_member)
