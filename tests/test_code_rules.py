"""Rules of the codebase that a reviewer would otherwise check by hand."""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "numpyuq"


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if not p.name.startswith("__"))


def test_tests_mirror_the_package():
    """numpyuq/a/b.py is tested in tests/a/test_b.py."""
    missing = [str(p.relative_to(ROOT)) for p in _modules()
               if not (ROOT / "tests" / p.parent.relative_to(PACKAGE) / f"test_{p.name}").exists()]
    assert not missing, f"modules without a mirrored test file: {missing}"


def _private_names_used_from_elsewhere(path):
    """Underscore names imported from, or read as attributes of, anything but ``self``/``cls``."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [f"import {alias.name} from {node.module}" for alias in node.names
                      if alias.name.startswith("_") and not alias.name.startswith("__")]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_no_private_name_crosses_a_module_boundary():
    problems = {str(p.relative_to(ROOT)): found for p in PACKAGE.rglob("*.py")
                if (found := _private_names_used_from_elsewhere(p))}
    assert not problems, problems


def test_the_rule_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .dense import _PAIRS\n\ndef f(layer):\n    return layer._cache\n")
    assert len(_private_names_used_from_elsewhere(bad)) == 2


def test_no_module_changes_process_wide_state_on_import():
    """No matplotlib.use, no global seeding, no environment edits in the package source."""
    forbidden = ("matplotlib.use(", "np.random.seed(", "random.seed(", "os.environ[")
    offenders = [f"{p.relative_to(ROOT)}: {text}" for p in PACKAGE.rglob("*.py")
                 for text in forbidden if text in p.read_text()]
    assert not offenders, offenders
