"""A griffe extension: docstrings given by a decorator, ``@_doc(\"\"\"...{common}...\"\"\")``.

``inception_keras/models.py`` writes the public constructors' docstrings once, with the arguments
they share in ``_COMMON_ARGS``, and sets them with ``@_doc(text)`` (``{common}`` replaced by
``_COMMON_ARGS``). Static analysis sees no docstring on those functions; this extension reads the
decorator's string literal and the module's ``_COMMON_ARGS`` from the source (nothing is imported)
and makes that the function's docstring, as ``fn.__doc__`` is at run time.
"""

from __future__ import annotations

import ast

import griffe

DECORATOR = "_doc"
PLACEHOLDER = "{common}"
COMMON = "_COMMON_ARGS"


class DocDecorator(griffe.Extension):
    def on_function_instance(self, *, node, func, agent, **kwargs):  # noqa: ARG002 - griffe's hook signature
        if not isinstance(node, ast.FunctionDef):
            return
        for decorator in node.decorator_list:
            if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == DECORATOR and decorator.args
                    and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
                text = decorator.args[0].value
                if PLACEHOLDER in text:
                    common = func.module.members.get(COMMON)
                    if common is None or common.value is None:
                        raise ValueError(f"{func.path}: @{DECORATOR} uses {PLACEHOLDER} but {COMMON} is not "
                                         f"a string assigned in {func.module.path}")
                    text = text.replace(PLACEHOLDER, ast.literal_eval(str(common.value)))
                func.docstring = griffe.Docstring(text, lineno=decorator.lineno, endlineno=decorator.end_lineno,
                                                  parent=func)
