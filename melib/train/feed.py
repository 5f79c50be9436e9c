"""What a fit eats and how it reaches the device: :class:`Inputs` (clip inputs aligned with the samples rows)
and :class:`Feed` (one fit's batches on its device).

Placement (:func:`placement`): on the CPU the inputs stay where they are; on an accelerator the whole set is
copied to the device once when it takes at most :data:`RESIDENT_SHARE` of the device's free memory
(``"device"``), so that a batch is one gather on the device; otherwise each batch is gathered on the host,
copied into pinned memory and sent with a non-blocking copy (``"pinned"``). A ``torch.utils.data.Dataset``
is read item by item on the host (``"host"``). Batch indices are sent to the device once per epoch, not once
per batch.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from ..errors import DataError

RESIDENT_SHARE = 0.5  # the share of free device memory the inputs may take (the rest: activations, weights)
PLACEMENTS = ("device", "pinned", "host")


class Inputs:
    """Clip inputs aligned with the samples rows; ``take(idx)`` gives a batch (tensor or dict of tensors)."""

    def __init__(self, x):
        if isinstance(x, Inputs):
            self.kind, self.x = x.kind, x.x
        elif isinstance(x, dict):
            self.kind, self.x = "dict", {k: _tensor(v) for k, v in x.items()}
            sizes = {k: len(v) for k, v in self.x.items()}
            if len(set(sizes.values())) != 1:
                raise DataError(None, "inputs of one length (one row per clip)", f"lengths {sizes}")
        elif isinstance(x, (torch.Tensor, np.ndarray)):
            self.kind, self.x = "tensor", _tensor(x)
        elif hasattr(x, "__getitem__") and hasattr(x, "__len__"):
            self.kind, self.x = "dataset", x
        else:
            raise DataError(None, "inputs as a tensor/array, a dict of them or a torch Dataset", type(x).__name__)

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) if self.kind == "dict" else len(self.x)

    def take(self, idx):
        """Rows ``idx`` (a numpy array, or an index tensor on the inputs' device)."""
        if self.kind == "tensor":
            return self.x[torch.as_tensor(idx)]
        if self.kind == "dict":
            t = torch.as_tensor(idx)
            return {k: v[t] for k, v in self.x.items()}
        from torch.utils.data import default_collate
        return default_collate([self.x[int(i)] for i in idx])

    def nbytes(self) -> int | None:
        """Bytes of in-memory inputs (None for a Dataset)."""
        if self.kind == "dataset":
            return None
        return sum(v.numel() * v.element_size() for v in self._tensors())

    def to(self, device) -> Inputs:
        """The same inputs on ``device`` (a Dataset stays as it is)."""
        if self.kind == "dataset":
            return self
        out = Inputs.__new__(Inputs)
        out.kind = self.kind
        out.x = {k: v.to(device) for k, v in self.x.items()} if self.kind == "dict" else self.x.to(device)
        return out

    def _tensors(self) -> list[torch.Tensor]:
        return list(self.x.values()) if self.kind == "dict" else [self.x]

    def fingerprint(self) -> str | None:
        """A content hash of in-memory inputs (None for a Dataset)."""
        if self.kind == "dataset":
            return None
        h = hashlib.blake2b(digest_size=12)
        for k, v in (sorted(self.x.items()) if self.kind == "dict" else [("", self.x)]):
            a = v.detach().cpu().contiguous().numpy()
            h.update(f"{k}|{a.dtype}|{a.shape}|".encode())
            h.update(a.tobytes())
        return h.hexdigest()


def _tensor(v) -> torch.Tensor:
    t = torch.as_tensor(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)
    return t.float() if t.is_floating_point() else t


def batches(idx: np.ndarray, size: int, rng: np.random.Generator | None) -> list[np.ndarray]:
    """Batches of ``idx`` (shuffled when ``rng``); a last batch of one clip joins the one before
    (batch normalisation cannot train on one clip)."""
    if rng is not None:
        idx = idx[rng.permutation(len(idx))]
    out = [idx[i:i + size] for i in range(0, len(idx), size)]
    if len(out) > 1 and len(out[-1]) == 1:
        last = out.pop()
        out[-1] = np.concatenate([out[-1], last])
    return out


def placement(inputs: Inputs, device: torch.device, free_bytes: int | None = None) -> str:
    """Where a fit on ``device`` keeps ``inputs`` (one of :data:`PLACEMENTS`, module docstring); ``free_bytes``:
    the device's free memory (default: asked of the device)."""
    if inputs.kind == "dataset":
        return "host"
    if device.type == "cpu":
        return "device"
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else 0
    return "device" if inputs.nbytes() <= RESIDENT_SHARE * free_bytes else "pinned"


def _send(batch, device: torch.device):
    """A host batch on ``device``: through pinned memory with a non-blocking copy on CUDA."""
    if device.type == "cpu":
        return batch
    if device.type == "cuda":
        if isinstance(batch, dict):
            return {k: v.pin_memory().to(device, non_blocking=True) for k, v in batch.items()}
        return batch.pin_memory().to(device, non_blocking=True)
    return {k: v.to(device) for k, v in batch.items()} if isinstance(batch, dict) else batch.to(device)


class Feed:
    """One fit's inputs and labels, placed for ``device`` (:func:`placement`); :meth:`index` turns batches of
    row numbers into what :meth:`batch` takes."""

    def __init__(self, inputs: Inputs, y: np.ndarray, device: torch.device, free_bytes: int | None = None):
        self.device = device
        self.mode = placement(inputs, device, free_bytes)
        self.inputs = inputs.to(device) if self.mode == "device" else inputs
        self.y_host = torch.from_numpy(np.array(y, dtype=np.int64))
        self.y = self.y_host.to(device) if self.mode == "device" else self.y_host

    def index(self, parts: list[np.ndarray]) -> list:
        """The batches as index tensors on the inputs' device, sent in one copy (numpy for a Dataset)."""
        if self.mode == "host" or not parts:
            return parts
        flat = torch.from_numpy(np.concatenate(parts).astype(np.int64, copy=False))
        if self.mode == "device":
            flat = flat.to(self.device)
        return list(flat.split([len(p) for p in parts]))

    def batch(self, b) -> tuple:
        """(inputs, labels) of batch ``b`` (from :meth:`index`) on the device."""
        if self.mode == "device":
            return self.inputs.take(b), self.y[b]
        return _send(self.inputs.take(b), self.device), _send(self.y_host[torch.as_tensor(b)], self.device)
