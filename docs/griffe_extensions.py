"""Griffe extensions that let static analysis see what the package does at import time.

Nothing is imported: both read the source, as griffe does.

* :class:`DocDecorator`: ``inception_keras/models.py`` writes the public constructors' docstrings
  with ``@_doc(\"\"\"...{common}...\"\"\")`` (``{common}`` replaced by ``_COMMON_ARGS``, the
  arguments they share). Static analysis sees no docstring on those functions; this makes the
  decorator's text the docstring, as ``fn.__doc__`` is at run time.
* :class:`LazyExports`: packages that import their public names on first use
  (``inception_keras.utils.lazy.lazy_exports``) list them in ``_EXPORTS = {"name": ".module"}``. Those
  names become aliases of the objects in their modules, so the reference documents
  ``inception_keras.create_model`` and ``inception_keras.training.TrainConfig`` by the names
  users import.
* :class:`ExampleSections`: the docstrings head their doctests ``Example:``, as Keras and Napoleon
  do; griffe's Google parser knows only ``Examples:``, and would render the ``>>>`` lines as
  nested quotes. The heading is read as ``Examples:``.
"""

from __future__ import annotations

import ast
import re

import griffe


def _literal(module, name: str):
    """The value of a literal assigned at module level (a string, a dict), read from the source."""
    attribute = module.members.get(name)
    if attribute is None or attribute.value is None:
        return None
    return ast.literal_eval(str(attribute.value))


class DocDecorator(griffe.Extension):
    decorator = "_doc"
    placeholder = "{common}"
    common = "_COMMON_ARGS"

    def on_function_instance(self, *, node, func, agent, **kwargs):  # noqa: ARG002 - griffe's hook signature
        if not isinstance(node, ast.FunctionDef):
            return
        for decorator in node.decorator_list:
            if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == self.decorator and decorator.args
                    and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
                text = decorator.args[0].value
                if self.placeholder in text:
                    common = _literal(func.module, self.common)
                    if not isinstance(common, str):
                        raise ValueError(f"{func.path}: @{self.decorator} uses {self.placeholder} but {self.common} "
                                         f"is not a string assigned in {func.module.path}")
                    text = text.replace(self.placeholder, common)
                func.docstring = griffe.Docstring(text, lineno=decorator.lineno, endlineno=decorator.end_lineno,
                                                  parent=func)


class LazyExports(griffe.Extension):
    table = "_EXPORTS"

    def on_module_members(self, *, node, mod, agent, **kwargs):  # noqa: ARG002 - griffe's hook signature
        exports = _literal(mod, self.table) if self.table in mod.members else None
        if not isinstance(exports, dict):
            return
        for name, relative in exports.items():
            if name not in mod.members:
                package = mod.path if mod.filepath.name == "__init__.py" else mod.parent.path
                mod.set_member(name, griffe.Alias(name, f"{package}{relative}.{name}", parent=mod))


class ExampleSections(griffe.Extension):
    heading = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)

    def on_object(self, *, obj, **kwargs):  # noqa: ARG002 - griffe's hook signature
        docstring = obj.docstring
        if docstring is not None and not obj.is_alias and "Example:" in docstring.value:
            docstring.value = self.heading.sub(r"\1Examples:", docstring.value)
