"""A safe format for the values that cross between the grader and a student's kernel: JSON plus raw arrays.

Nothing here unpickles. A value becomes a JSON tree (``<name>.json``) in which every array is a reference to
an uncompressed member of ``<name>.npz``; arrays are read back with ``allow_pickle=False``, after the zip
directory is checked (stored, not compressed, no member larger than the cap), so a crafted file can neither
run code nor expand into more memory than it takes on disk.

Plain data travels both ways: None, bool, int, float, str, list, tuple, dict, set, torch.Size, torch tensors
(any real or complex dtype, ``requires_grad`` kept), numpy arrays and scalars. Cases (grader -> kernel) may
also hold a ``torch.distributions`` distribution, rebuilt from its parameters, and an ``nn.Module`` of
``torch`` or ``course_lib``, rebuilt from its state the way ``pickle`` would, but from a class that must be
named and found inside those packages. What a student returns is read with ``objects=False``: anything else
arrives as the check machinery's ``Opaque``, which keeps only the type's name (a check then says "got a
Normal").
"""

from __future__ import annotations

import importlib
import io
import json
import os
import stat
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch import nn

from course_lib.check.compare import Opaque

MAX_BYTES = 256 << 20  # the largest values file the grader reads back
_DTYPES = {"bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64",
           "complex64", "complex128"}
_EXCLUSIVE = (("probs", "logits"), ("scale_tril", "covariance_matrix", "precision_matrix"))
_CLASS_ROOTS = ("torch.", "course_lib.")


class FormatError(ValueError):
    """A value that cannot be written, or a file that is not in the format."""


class _Writer:
    def __init__(self, objects: bool) -> None:
        self.objects, self.arrays = objects, {}

    def array(self, value: np.ndarray) -> str:
        if value.dtype.name not in _DTYPES:
            raise FormatError(f"cannot write an array of dtype {value.dtype}")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(value)
        return key

    def tree(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return {"$": "int", "v": str(value)}  # exact, whatever its size
        if isinstance(value, float):
            return {"$": "float", "v": repr(value)}  # nan and inf included
        if isinstance(value, torch.Size):
            return {"$": "size", "items": [self.tree(int(v)) for v in value]}
        if isinstance(value, nn.Parameter):
            return {"$": "parameter", "tensor": self.tree(value.data), "requires_grad": value.requires_grad}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, np.ndarray):
            return {"$": "ndarray", "array": self.array(value)}
        if isinstance(value, np.generic):
            return {"$": "npscalar", "array": self.array(np.asarray(value))}
        if isinstance(value, (list, tuple, set, frozenset)):
            kind = type(value).__name__ if type(value) in (list, tuple, set, frozenset) else "list"
            items = sorted(value, key=repr) if kind in ("set", "frozenset") else value
            return {"$": kind, "items": [self.tree(v) for v in items]}
        if isinstance(value, dict):
            kind = "ordered" if isinstance(value, OrderedDict) else "dict"
            return {"$": kind, "items": [[self.tree(k), self.tree(v)] for k, v in value.items()]}
        if self.objects and isinstance(value, torch.distributions.Distribution):
            return self.distribution(value)
        if self.objects and isinstance(value, nn.Module):
            return {"$": "module", "class": _class_name(type(value)), "state": self.tree(dict(value.__dict__))}
        if self.objects:
            raise FormatError(f"cannot write a {type(value).__module__}.{type(value).__qualname__} as data")
        return {"$": "opaque", "type": value.type_name if isinstance(value, Opaque) else type(value).__name__}

    def tensor(self, value: torch.Tensor) -> dict:
        requires_grad = bool(value.requires_grad)
        value = value.detach()
        if value.layout != torch.strided:
            raise FormatError(f"cannot write a {value.layout} tensor")
        if value.is_quantized or value.device.type == "meta":
            raise FormatError("cannot write a quantized or meta tensor")
        dtype = str(value.dtype).removeprefix("torch.")
        as_numpy = value.cpu().float() if value.dtype == torch.bfloat16 else value.cpu()
        return {"$": "tensor", "array": self.array(as_numpy.resolve_conj().resolve_neg().numpy()), "dtype": dtype,
                "requires_grad": requires_grad}

    def distribution(self, value: torch.distributions.Distribution) -> dict:
        cls = type(value)
        if getattr(torch.distributions, cls.__name__, None) is not cls:
            raise FormatError(f"cannot write a {cls.__qualname__}: only torch.distributions classes")
        if isinstance(value, torch.distributions.Independent):
            params = {"base_distribution": value.base_dist,
                      "reinterpreted_batch_ndims": value.reinterpreted_batch_ndims}
        else:
            params = {k: value.__dict__[k] for k in value.arg_constraints if k in value.__dict__}
            for group in _EXCLUSIVE:  # keep the one that was given (a lazy property caches the others)
                present = [k for k in group if k in params]
                for extra in present[1:]:
                    del params[extra]
            extra = {k: value.__dict__[k] for k in ("total_count", "df") if k in value.__dict__ and k not in params}
            params.update(extra)
        return {"$": "distribution", "class": cls.__name__, "params": self.tree(params)}


def _class_name(cls: type) -> str:
    name = f"{cls.__module__}:{cls.__qualname__}"
    if not cls.__module__.startswith(_CLASS_ROOTS) or "<locals>" in cls.__qualname__:
        raise FormatError(f"cannot write a {name}: only classes defined at the top of torch or course_lib")
    return name


def _find_class(name: str, base: type) -> type:
    module_name, _, qualname = name.partition(":")
    if not module_name.startswith(_CLASS_ROOTS):
        raise FormatError(f"refusing to load class {name}")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise FormatError(f"{name} is not a {base.__name__}")
    return obj


class _Reader:
    def __init__(self, arrays: dict[str, np.ndarray], objects: bool) -> None:
        self.arrays, self.objects = arrays, objects

    def array(self, key: Any) -> np.ndarray:
        if not isinstance(key, str) or key not in self.arrays:
            raise FormatError(f"missing array {key!r}")
        return self.arrays[key]

    def tree(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, str)):
            return node
        if not isinstance(node, dict) or not isinstance(node.get("$"), str):
            raise FormatError(f"unexpected node of type {type(node).__name__}")
        kind = node["$"]
        if kind == "int":
            return int(node["v"])
        if kind == "float":
            return float(node["v"])
        if kind in ("list", "tuple", "set", "frozenset", "size"):
            items = [self.tree(v) for v in node["items"]]
            return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "size": torch.Size}[kind](items)
        if kind in ("dict", "ordered"):
            pairs = [(self.tree(k), self.tree(v)) for k, v in node["items"]]
            return OrderedDict(pairs) if kind == "ordered" else dict(pairs)
        if kind == "tensor":
            return self.tensor(node)
        if kind == "parameter":
            return nn.Parameter(self.tree(node["tensor"]), requires_grad=bool(node["requires_grad"]))
        if kind == "ndarray":
            return self.array(node["array"]).copy()
        if kind == "npscalar":
            return self.array(node["array"])[()]
        if kind == "opaque":
            return Opaque(str(node.get("type", "object"))[:100])
        if kind in ("distribution", "module") and not self.objects:
            return Opaque(str(node.get("class", kind)).rpartition(":")[2].rpartition(".")[2][:100] or kind)
        if kind == "distribution":
            cls = getattr(torch.distributions, str(node["class"]), None)
            if not (isinstance(cls, type) and issubclass(cls, torch.distributions.Distribution)):
                raise FormatError(f"unknown distribution {node['class']!r}")
            return cls(**self.tree(node["params"]), validate_args=False)
        if kind == "module":
            cls = _find_class(str(node["class"]), nn.Module)
            module = cls.__new__(cls)
            module.__setstate__(self.tree(node["state"]))  # what unpickling a module does, minus the pickle
            return module
        raise FormatError(f"unknown node kind {kind!r}")

    def tensor(self, node: dict) -> torch.Tensor:
        dtype = getattr(torch, str(node["dtype"]), None)
        if not isinstance(dtype, torch.dtype):
            raise FormatError(f"unknown dtype {node['dtype']!r}")
        tensor = torch.from_numpy(self.array(node["array"]).copy()).to(dtype)
        return tensor.requires_grad_(bool(node["requires_grad"])) if tensor.is_floating_point() else tensor


def dumps(value: Any, *, objects: bool = False) -> tuple[bytes, bytes]:
    """``value`` as (JSON bytes, npz bytes). ``objects`` allows distributions and modules (cases only)."""
    writer = _Writer(objects)
    text = json.dumps(writer.tree(value), ensure_ascii=True).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for key, array in writer.arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return text, buffer.getvalue()


def loads(text: bytes, npz: bytes, *, objects: bool = False, max_bytes: int = MAX_BYTES) -> Any:
    """Read what :func:`dumps` wrote; raises :class:`FormatError` on anything else."""
    try:
        tree = json.loads(text)
        arrays = {}
        with zipfile.ZipFile(io.BytesIO(npz)) as archive:
            members = archive.infolist()
            if sum(m.file_size for m in members) > max_bytes:
                raise FormatError("the arrays are larger than the grader reads")
            for member in members:
                if member.compress_type != zipfile.ZIP_STORED or not member.filename.endswith(".npy"):
                    raise FormatError(f"unexpected member {member.filename!r}")
                with archive.open(member) as handle:
                    arrays[member.filename[:-4]] = np.lib.format.read_array(handle, allow_pickle=False)
        return _Reader(arrays, objects).tree(tree)
    except FormatError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError, zipfile.BadZipFile,
            ImportError) as error:
        raise FormatError(f"{type(error).__name__}: {error}") from None


def write(folder: str, name: str, value: Any, *, objects: bool = False) -> None:
    """Write ``<folder>/<name>.json`` and ``.npz`` (the JSON last: its presence means both are complete)."""
    text, npz = dumps(value, objects=objects)
    for suffix, data in ((".npz", npz), (".json", text)):
        path = os.path.join(folder, name + suffix)
        with open(path + ".tmp", "wb") as handle:
            handle.write(data)
        os.replace(path + ".tmp", path)


def read_untrusted(folder_fd: int, name: str, *, objects: bool = False, max_bytes: int = MAX_BYTES) -> Any:
    """Read a value a student's kernel wrote, inside the folder open as ``folder_fd``.

    Regular files only, no symbolic link followed, nothing beyond ``max_bytes``; plain data only unless
    ``objects`` (the runner reading its cases).
    """
    parts = []
    for suffix in (".json", ".npz"):
        try:
            fd = os.open(name + suffix, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
        except OSError as error:
            raise FormatError(f"cannot open {name}{suffix}: {error.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
                raise FormatError(f"{name}{suffix} is not a regular file of at most {max_bytes >> 20} MB")
            parts.append(handle.read(max_bytes + 1))
    return loads(parts[0], parts[1], objects=objects, max_bytes=max_bytes)
