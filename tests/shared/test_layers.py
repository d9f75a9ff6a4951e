"""The layers: the core (`shared/`) does not know the blueprints (they contribute through one
registry), only public names cross module lines, and the roster modules form no cycle.

Every import in every core module is read with `ast` (function-level imports too, and
`importlib.import_module("...")` with a literal name); the application factory's
`register_blueprints` is the one place allowed to name a blueprint.
"""

import ast
from pathlib import Path

from shared.contributions import NavItem, contributions

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINTS = {"hallpass", "carline"}
#: (module, function) where importing a blueprint is the point: the application factory.
ALLOWED = {("shared/__init__.py", "register_blueprints")}


def _imports(tree: ast.AST):
    """(imported module, enclosing function or None, line) for every import in the tree."""
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = child.name if function is None else function
            if isinstance(child, ast.Import):
                found.extend((alias.name, function, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, function, child.lineno))
            elif (
                isinstance(child, ast.Call)
                and isinstance(child.func, ast.Attribute | ast.Name)
                and getattr(child.func, "attr", getattr(child.func, "id", "")) == "import_module"
                and child.args
                and isinstance(child.args[0], ast.Constant)
                and isinstance(child.args[0].value, str)
            ):
                found.append((child.args[0].value, function, child.lineno))
            visit(child, inner)

    visit(tree, None)
    return found


def _blueprint_imports(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
    return [
        f"{relative}:{line} imports {module}"
        for module, function, line in _imports(tree)
        if module.split(".")[0] in BLUEPRINTS and (relative, function) not in ALLOWED
    ]


def test_no_core_module_imports_a_blueprint():
    modules = sorted((ROOT / "shared").rglob("*.py"))
    assert len(modules) > 30, "the core's modules were not found"
    offending = [hit for path in modules for hit in _blueprint_imports(path)]
    assert offending == []


def test_the_layer_check_sees_every_kind_of_import(tmp_path):
    probe = tmp_path / "shared" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(
        "import hallpass.models\n"
        "from carline import views\n"
        "def later():\n"
        "    from hallpass.passes import start_pass\n"
        "    importlib.import_module('carline.models')\n"
        "def register_blueprints(app):\n"
        "    from carline import bp\n"
        "import shared.models\n"
        "from . import sibling\n"
    )
    tree = ast.parse(probe.read_text())
    found = [(m, f) for m, f, _ in _imports(tree) if m.split(".")[0] in BLUEPRINTS]
    assert found == [
        ("hallpass.models", None),
        ("carline", None),
        ("hallpass.passes", "later"),
        ("carline.models", "later"),
        ("carline", "register_blueprints"),
    ]


def test_the_factory_is_the_one_exception():
    tree = ast.parse((ROOT / "shared" / "__init__.py").read_text(encoding="utf-8"))
    functions = {f for m, f, _ in _imports(tree) if m.split(".")[0] in BLUEPRINTS}
    assert functions == {"register_blueprints"}


def test_registering_the_blueprints_fills_the_registry(app):
    parts = contributions(app)
    assert NavItem("Curb", "carline.curb", ("admin", "office", "teacher", "staff")) in parts.nav
    assert {job.name for job in parts.jobs} == {
        "hallpass.end_overrun_passes",
        "hallpass.expire_requests",
        "hallpass.summarize_days",
        "hallpass.appointment_no_shows",
    }
    assert [p.key for p in parts.retention_periods] == [
        "pass_history_days",
        "tardy_days",
        "dismissal_history_days",
    ]
    assert {"hall_passes", "called_students"} <= set(parts.inventory)
    assert [loader.name for loader in parts.demo_loaders] == ["hallpass", "tardies", "carline"]


def test_a_second_app_has_its_own_registry_without_doubles(app):
    from shared import create_app

    other = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    assert contributions(other) is not contributions(app)
    assert len(contributions(other).nav) == len(contributions(app).nav) == 10
    assert len(contributions(other).device_screens) == 7


def _project_modules():
    for package in ("shared", *sorted(BLUEPRINTS)):
        yield from sorted((ROOT / package).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_only_public_names_cross_module_lines():
    project = {"shared", *BLUEPRINTS}
    private = []
    for path in _project_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in project:
                private.extend(
                    f"{path.relative_to(ROOT)}:{node.lineno} {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_")
                )
    assert private == []


def test_the_roster_modules_import_each_other_without_a_cycle():
    modules = {
        _module_name(path): path
        for path in (ROOT / "shared" / "roster").glob("*.py")
        if path.name != "__init__.py"
    }
    imports = {
        name: {
            module
            for module, _function, _line in _imports(ast.parse(path.read_text(encoding="utf-8")))
            if module in modules
        }
        for name, path in modules.items()
    }
    assert len(modules) >= 7
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, "import cycle: " + " -> ".join((*trail, name))
        if name not in done:
            for imported in sorted(imports[name]):
                visit(imported, (*trail, name))
            done.add(name)

    for name in sorted(modules):
        visit(name, ())
