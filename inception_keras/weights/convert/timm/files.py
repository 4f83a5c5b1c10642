"""Reading files: safetensors (numpy only) and PyTorch pickles (torch, lazily)."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import re
from collections.abc import Mapping

from ..core import ConversionError, TensorSource

# Wrappers whose prefix is stripped when every key has it: DataParallel / DDP, torch.compile.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
PYTORCH_SUFFIXES = (".pth", ".pth.tar", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
# torch.load(weights_only=True) refusing a pickled global, in the wordings of torch 2.x:
# "Unsupported global: GLOBAL torch.nn.modules.linear.Linear was not an allowed global by default"
# "Trying to load unsupported GLOBAL posix.system whose module posix is blocked"
_FORBIDDEN = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL (?P<name>\S+)(?: whose module (?P<module>\S+) is blocked)?")


class StateDictSource(TensorSource):
    """A state dict read from a file: keys with a wrapper prefix stripped, tensors as numpy.

    Attributes:
        ignored: entries of the file outside the state dict (optimizer, epoch, ...) -> why.
        batchnorm_eps: BatchNorm module -> epsilon, where a pickled module says.
        prefix_stripped: the wrapper prefix removed from every key ("" if none).
    """

    def __init__(self, description: str, shapes: Mapping[str, tuple], read, *, ignored=None, batchnorm_eps=None):
        self.description = description
        keys = {k: k for k in shapes}
        eps = dict(batchnorm_eps or {})
        self.prefix_stripped = ""
        for prefix in WRAPPER_PREFIXES:
            if keys and all(k.startswith(prefix) for k in keys):
                keys = {k[len(prefix):]: orig for k, orig in keys.items()}
                eps = {m[len(prefix):] if m.startswith(prefix) else m: e for m, e in eps.items()}
                self.prefix_stripped += prefix
        self._keys = keys
        self._shapes = {k: tuple(int(d) for d in shapes[orig]) for k, orig in keys.items()}
        self._read = read
        self.ignored = dict(ignored or {})
        self.batchnorm_eps = eps

    @property
    def shapes(self):
        return self._shapes

    def get(self, name):
        return self._read(self._keys[name])


def _safetensors_source(path: str) -> StateDictSource:
    from safetensors import SafetensorError, safe_open  # noqa: PLC0415

    try:
        handle = safe_open(path, framework="numpy")
        slices = {k: handle.get_slice(k) for k in handle.keys()}  # noqa: SIM118 - not a dict
        shapes = {k: tuple(s.get_shape()) for k, s in slices.items()}
    except (SafetensorError, OSError) as e:
        raise ConversionError(
            f"{path} is not a readable safetensors file (truncated, or another format): {e}"
        ) from None
    bfloat16 = {k for k, s in slices.items() if s.get_dtype() == "BF16"}

    def read(key):
        if key in bfloat16:  # numpy has no bfloat16: widen through torch
            try:
                with safe_open(path, framework="pt") as f:
                    return f.get_tensor(key).float().numpy()
            except ImportError:
                raise ConversionError(
                    f"{path} holds bfloat16 tensors ({key}, ...), which numpy cannot represent: install PyTorch "
                    f"to read them (pip install torch), or save the file in float32"
                ) from None
        try:
            return handle.get_tensor(key)
        except SafetensorError as e:
            raise ConversionError(f"cannot read {key!r} from {path}: {e} (is the file complete?)") from None

    return StateDictSource(f"safetensors file {path}", shapes, read)


def _import_torch(path):
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise ConversionError(
            f"reading {path} needs PyTorch (.pth/.bin files are Python pickles of torch tensors): "
            f"pip install torch (the CPU build is enough), or save the weights as .safetensors, which need only numpy"
        ) from None
    return torch


def _torch_load(path: str, allow_pickle: bool):
    torch = _import_torch(path)
    try:
        if allow_pickle:
            return torch.load(path, map_location="cpu", weights_only=False)
        # timm's training checkpoints keep their argparse.Namespace of arguments: plain data.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = _FORBIDDEN.search(str(e))
        if allow_pickle or not found:
            raise ConversionError(f"{path} is not a readable PyTorch file (truncated, or another format): "
                                  f"{str(e).splitlines()[0]}") from None
        name, blocked = found.group("name").rstrip(".,"), found.group("module")
        why = (f"its module {blocked} is blocked: it could run commands or touch files; a weights file has no "
               f"reason to load it" if blocked else "loading weights allows only tensors and plain data; a whole "
               "model saved with torch.save(model) does this, and so does a malicious file")
        raise ConversionError(
            f"{path} tried to load a forbidden object, {name} ({why}). Load it with allow_pickle=True "
            f"(--allow-pickle) only if you trust the file: unpickling runs code from it. "
            f"Or save model.state_dict() instead."
        ) from None
    except (ModuleNotFoundError, AttributeError) as e:
        raise ConversionError(
            f"{path} pickles objects of a Python package that is not importable here ({e}): install it "
            f"(e.g. pip install timm), or save model.state_dict() instead"
        ) from None
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError, KeyError, EOFError... for damaged files
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise ConversionError(
            f"{path} is not a readable PyTorch file (truncated, or another format): {first}"
        ) from None


def _unwrap(obj, path: str, ema: bool, torch):
    """The state dict in a loaded object: a state dict, a training checkpoint, or a module."""
    ignored, eps = {}, {}
    if isinstance(obj, Mapping):
        keys = ("state_dict_ema", "model_ema") if ema else ("state_dict", "model")
        found = next((k for k in keys if isinstance(obj.get(k), (Mapping, torch.nn.Module))), None)
        if found is None and ema:
            raise ConversionError(f"ema=True (--ema) but {path} has no state_dict_ema or model_ema "
                                  f"(its entries: {', '.join(map(str, list(obj)[:10]))})")
        if found is not None:
            ignored = {str(k): f"checkpoint entry outside {found!r} ({type(v).__name__})"
                       for k, v in obj.items() if k != found}
            obj = obj[found]
    elif ema:
        raise ConversionError(f"ema=True (--ema) needs a training checkpoint with state_dict_ema; {path} is not one")
    if isinstance(obj, torch.nn.Module):
        eps = {name: float(m.eps) for name, m in obj.named_modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise ConversionError(f"{path} holds a {type(obj).__name__}, not a state dict, training checkpoint or module")
    tensors = {}
    for k, v in obj.items():
        if torch.is_tensor(v):
            tensors[str(k)] = v
        else:
            ignored[str(k)] = f"not a tensor ({type(v).__name__})"
    return tensors, ignored, eps


def _pytorch_source(path: str, *, ema: bool, allow_pickle: bool) -> StateDictSource:
    torch = _import_torch(path)
    tensors, ignored, eps = _unwrap(_torch_load(path, allow_pickle), path, ema, torch)

    def read(key):
        t = tensors[key].detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            t = t.float()
        return t.numpy()

    return StateDictSource(f"PyTorch file {path}", {k: tuple(t.shape) for k, t in tensors.items()}, read,
                           ignored=ignored, batchnorm_eps=eps)


def is_pytorch_weights(path) -> bool:
    """Whether ``path`` names a file this module reads (by its extension)."""
    return os.fspath(path).endswith((SAFETENSORS_SUFFIX, *PYTORCH_SUFFIXES))


@contextlib.contextmanager
def open_timm_checkpoint(path, *, ema: bool = False, allow_pickle: bool = False):
    """Open ``.safetensors`` (numpy only) or ``.pth`` / ``.pth.tar`` / ``.pt`` / ``.bin`` (needs torch).

    A state dict nested under ``state_dict`` or ``model`` (timm's training checkpoints),
    or ``state_dict_ema`` / ``model_ema`` with ``ema=True``, and a ``module.`` prefix
    (DataParallel) are handled. A whole pickled ``nn.Module`` loads only with
    ``allow_pickle=True``; its BatchNorm epsilons are then read from it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConversionError(f"no file at {path}")
    if path.endswith(SAFETENSORS_SUFFIX):
        if ema:
            raise ConversionError(f"ema=True (--ema) needs a training checkpoint with state_dict_ema; {path} is a "
                                  f"flat safetensors file")
        yield _safetensors_source(path)
    elif path.endswith(PYTORCH_SUFFIXES):
        yield _pytorch_source(path, ema=ema, allow_pickle=allow_pickle)
    else:
        raise ConversionError(
            f"{path}: unknown PyTorch weights format; expected {SAFETENSORS_SUFFIX} or {', '.join(PYTORCH_SUFFIXES)}"
        )
