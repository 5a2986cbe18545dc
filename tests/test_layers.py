"""The library's structure stays a stack of layers (tests/structure.py reads it from the source): no import cycle,
imports pointing down the layers only, every module in a layer, and no import inside a function but the heavy
libraries imported lazily on purpose."""

from __future__ import annotations

from tests import structure


def test_no_module_of_the_library_is_in_an_import_cycle():
    modules = structure.read()
    assert structure.cycles(modules) == []


def test_every_import_points_down_the_layers():
    modules = structure.read()
    unlisted = sorted(m for m in modules if m != "monitoring" and structure.layer_of(m) is None)
    assert unlisted == [], "put each new module in its layer (tests/structure.py LAYERS)"
    assert structure.upward(modules) == []


def test_no_import_inside_a_function_but_the_lazy_heavy_libraries():
    assert structure.inside_functions(structure.read()) == []


def test_the_reader_sees_type_checking_and_function_level_imports(tmp_path):
    """The reader itself: an import under TYPE_CHECKING is an arrow, one inside a function is reported."""
    package = tmp_path / "monitoring"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from monitoring import b\n")
    (package / "b.py").write_text("def f():\n    from monitoring import a\n    import pandas\n")
    original = structure.ROOT
    structure.ROOT = tmp_path
    try:
        modules = structure.read(package)
    finally:
        structure.ROOT = original
    assert structure.arrows(modules) == {("monitoring.a", "monitoring.b"), ("monitoring.b", "monitoring.a")}
    assert structure.cycles(modules) == [["monitoring.a", "monitoring.b"]]
    assert structure.inside_functions(modules) == [("monitoring.b", 2, "monitoring.a"), ("monitoring.b", 3, "pandas")]
