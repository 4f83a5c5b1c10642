"""Package attributes imported on first use (PEP 562), so that importing a package does not
load Keras and its backend before something needs them."""

from __future__ import annotations

import importlib
import sys


def lazy_exports(package: str, exports: dict[str, str], public: list[str]):
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to the module
    (relative to ``package``) that defines it; the value is cached in the package once imported."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(public))

    return __getattr__, __dir__
