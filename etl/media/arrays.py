"""Named numpy arrays <-> bytes: how features travel between Ray stages and into tar samples."""

from __future__ import annotations

import io

import numpy as np


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def npy_bytes(array: np.ndarray) -> bytes:
    """One array in .npy format, the WebDataset convention for array members."""
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()
