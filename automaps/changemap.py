"""The change map value type: float32 ``(H, W)`` in [0, 1], 1 = regenerate fully, 0 = keep.

The paper's reference code stores the opposite polarity (white = keep); such a map is read with an explicit
``invert=True``, never by guessing.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

__all__ = ["ChangeMap"]

_ACCEPTED = "(H, W), (H, W, 1), (1, H, W), (1, 1, H, W), (H, W, 3) or (H, W, 4)"
# ITU-R 601-2 luma, the weights of PIL's "L" conversion.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)
_TOL = 1e-6  # float noise tolerated (and clipped) outside [0, 1]


def _is_torch_tensor(x: Any) -> bool:
    # Look torch up in sys.modules instead of importing it: a tensor can only exist if torch is loaded.
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


def _squeeze_to_2d(a: np.ndarray, *, channels_first: bool, name: str) -> np.ndarray:
    """Return ``(H, W)`` or ``(H, W, C)`` with C in (3, 4); raise ValueError naming the shape otherwise."""
    shape = a.shape
    if a.size == 0 or a.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected shape {_ACCEPTED}, got {shape}")
    if a.ndim == 2:
        return a
    if a.ndim == 4:
        if shape[0] == 1 and shape[1] == 1:
            return a[0, 0]
        raise ValueError(f"{name}: expected shape {_ACCEPTED} (one map, batch 1), got {shape}")
    # 3-D: (1, H, W) vs (H, W, C). Tensors are channels-first by convention, arrays channels-last.
    if channels_first and shape[0] == 1:
        return a[0]
    if shape[2] == 1:
        return a[..., 0]
    if shape[2] in (3, 4):
        return a
    if shape[0] == 1:
        return a[0]
    raise ValueError(f"{name}: expected shape {_ACCEPTED}, got {shape}")


def _to_unit_float(a: np.ndarray, *, name: str) -> np.ndarray:
    """Scale by dtype into float values: bool 0/1, uint8 /255, uint16 /65535, other ints must be 0/1."""
    kind = a.dtype.kind
    if kind == "b":
        return a.astype(np.float32)
    if kind == "u" and a.dtype.itemsize == 1:
        return a.astype(np.float32) / np.float32(255)
    if kind == "u" and a.dtype.itemsize == 2:
        return (a.astype(np.float64) / 65535).astype(np.float32)
    if kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"{name}: integer dtype {a.dtype} must hold a 0/1 mask, got min {lo} max {hi}; "
                "pass uint8 (scaled by 1/255), uint16 (1/65535) or float in [0, 1]"
            )
        return a.astype(np.float32)
    if kind == "f":
        return a.astype(np.float64 if a.dtype.itemsize > 4 else np.float32)
    raise TypeError(f"{name}: expected a numeric (bool, integer or float) array, got dtype {a.dtype}")


def _coerce(values: Any, *, invert: bool = False, name: str = "change_map") -> np.ndarray:
    """Convert any accepted input to a fresh C-contiguous float32 ``(H, W)`` array in [0, 1]."""
    channels_first = False
    if _is_torch_tensor(values):
        t = values.detach().cpu()
        values = (t.float() if t.is_floating_point() else t).numpy()  # bfloat16 has no numpy dtype
        channels_first = True
    elif isinstance(values, Image.Image):
        return _coerce(_pil_to_array(values, name=name), invert=invert, name=name)
    try:
        a = np.asarray(values)
    except (TypeError, ValueError) as e:  # e.g. ragged nested lists
        raise type(e)(f"{name}: cannot read {type(values).__name__} as an array ({e})") from e
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{name}: expected a numeric (bool, integer or float) array, got {type(values).__name__} "
            f"with dtype {a.dtype}"
        )
    a = _to_unit_float(_squeeze_to_2d(a, channels_first=channels_first, name=name), name=name)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(a.size - np.count_nonzero(finite))
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {a.size} values)")
    lo, hi = float(a.min()), float(a.max())
    if lo < -_TOL or hi > 1 + _TOL:
        raise ValueError(f"{name}: expected values in [0, 1], got min {lo:.6g} max {hi:.6g}")
    if a.ndim == 3:
        a = a[..., :3] @ _LUMA.astype(a.dtype)  # colour map: luminance of the RGB channels, alpha ignored
    out = np.clip(a, 0.0, 1.0).astype(np.float32)  # astype copies: the caller's array is never aliased
    if invert:
        out = np.float32(1) - out
    return np.ascontiguousarray(out)


def _pil_to_array(image: Image.Image, *, name: str) -> np.ndarray:
    """Array of a PIL image in a dtype :func:`_coerce` scales correctly, for any mode."""
    mode = image.mode
    if mode in ("1", "L", "RGB", "RGBA", "F") or mode.startswith("I;16"):
        return np.asarray(image)  # bool, uint8, uint8 colour, float32, uint16
    if mode == "I":
        # 16-bit PNGs may open as 32-bit "I": read by the 16-bit range, refuse anything wider.
        a = np.asarray(image)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise ValueError(
                f"{name}: mode 'I' image has values in [{a.min()}, {a.max()}], outside the 16-bit range"
            )
        return a.astype(np.uint16)
    if mode == "LA":
        return np.asarray(image)[..., 0]
    # P, PA, CMYK, YCbCr, LAB, HSV, ...: to RGB(A) first; luminance is taken of the colour channels.
    return np.asarray(image.convert("RGBA" if "A" in mode or "transparency" in image.info else "RGB"))


class ChangeMap:
    """An immutable per-pixel change strength: float32 ``(H, W)`` in [0, 1], 1 = regenerate, 0 = keep.

    Args:
        values: Anything :meth:`from_array` accepts (no inversion). A read-only float32 copy is stored.
        provenance: How the map was made, steps joined by ``" | "``, e.g. ``"clipseg('sky') | grow(8)"``.

    Raises:
        TypeError: ``values`` is not numeric, or ``provenance`` is not a string.
        ValueError: Wrong shape, NaN/Inf, or values outside [0, 1] (messages start with ``change_map``).

    Example:
        >>> m = ChangeMap(np.array([[0.0, 0.5], [1.0, 0.25]]), provenance="demo")
        >>> m.shape, m.size, m.values.dtype
        ((2, 2), (2, 2), dtype('float32'))
        >>> m
        ChangeMap(2x2, mean=0.44, max=1.00, 'demo')
    """

    __slots__ = ("_provenance", "_values")

    def __init__(self, values: Any, provenance: str = "array") -> None:
        if not isinstance(provenance, str):
            raise TypeError(f"provenance: expected str, got {type(provenance).__name__}")
        if isinstance(values, ChangeMap):
            arr = values._values  # already validated and read-only
        else:
            arr = _coerce(values)
            arr.flags.writeable = False
        self._values: np.ndarray = arr
        self._provenance = provenance

    # ----------------------------------------------------------------------------------------- readers
    @classmethod
    def from_array(cls, array: Any, *, invert: bool = False, provenance: str = "array") -> ChangeMap:
        """Build a map from a numpy array, torch tensor, PIL image or anything with ``__array__``.

        Accepted forms (the input is never modified):

        - dtype: float in [0, 1]; uint8 (scaled by 1/255); uint16 (1/65535); bool; other ints holding 0/1.
        - shape: ``(H, W)``, ``(H, W, 1)``, ``(1, H, W)``, ``(1, 1, H, W)``; ``(H, W, 3)`` / ``(H, W, 4)``
          colour maps become the ITU-R 601-2 luminance (PIL "L") of their RGB channels. Torch tensors are
          read channels-first (``(1, H, W)``), arrays channels-last when ambiguous.

        Args:
            array: The map values, polarity 1 = change unless ``invert`` is set.
            invert: True for maps in the paper's polarity (white = keep): stores ``1 - values``.
            provenance: Source description; ``" | invert"`` is appended when ``invert`` is set.

        Returns:
            A new ChangeMap.

        Raises:
            TypeError: Non-numeric input.
            ValueError: Wrong shape, NaN/Inf, or values outside [0, 1].

        Example:
            >>> ChangeMap.from_array(np.array([[0, 255]], dtype=np.uint8), invert=True).values.tolist()
            [[1.0, 0.0]]
        """
        if isinstance(array, ChangeMap) and provenance == "array":
            provenance = array.provenance
        values = array.values if isinstance(array, ChangeMap) else array
        m = cls.__new__(cls)
        m._values = _coerce(values, invert=invert)
        m._values.flags.writeable = False
        m._provenance = f"{provenance} | invert" if invert else provenance
        return m

    @classmethod
    def from_pil(cls, image: Image.Image, *, invert: bool = False, provenance: str = "image") -> ChangeMap:
        """Build a map from a PIL image of any mode.

        "1" and "L" are read as masks; "I;16" as 16-bit (and "I" within the 16-bit range); "F" must already
        be in [0, 1]; colour modes (RGB, RGBA, P, CMYK, ...) become luminance, ignoring alpha.

        Args:
            image: The map image, white = change unless ``invert`` is set.
            invert: True for the paper's polarity (white = keep).
            provenance: Source description.

        Returns:
            A ChangeMap at the image's resolution.

        Raises:
            TypeError: ``image`` is not a PIL image.
            ValueError: Values out of range ("F" outside [0, 1], "I" outside 16 bits).
        """
        if not isinstance(image, Image.Image):
            raise TypeError(f"image: expected a PIL.Image.Image, got {type(image).__name__}")
        return cls.from_array(_pil_to_array(image, name="image"), invert=invert, provenance=provenance)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, invert: bool = False) -> ChangeMap:
        """Read a map from an image file (any format PIL reads) or a ``.npy`` array.

        Args:
            path: File to read. Provenance becomes ``"file('<file name>')"``.
            invert: True for the paper's polarity (white = keep).

        Returns:
            A ChangeMap at the file's resolution.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: ``path`` is not a readable image or ``.npy`` file, or its values are invalid.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"path: change map file {path!r} does not exist (or is not a file)")
        provenance = f"file({os.path.basename(path)!r})"
        if path.lower().endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise ValueError(f"path: {path!r} is not a readable .npy array ({e})") from e
            return cls.from_array(array, invert=invert, provenance=provenance)
        try:
            with Image.open(path) as image:
                image.load()
                return cls.from_pil(image, invert=invert, provenance=provenance)
        except (Image.UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"path: {path!r} is not an image file PIL can read ({e})") from e

    # ----------------------------------------------------------------------------------------- accessors
    @property
    def values(self) -> np.ndarray:
        """float32 ``(H, W)`` in [0, 1], read-only (``writeable=False``); 1 = change fully."""
        return self._values

    @property
    def provenance(self) -> str:
        """How the map was made, e.g. ``"clipseg('sky') | grow(8) | feather(12)"``."""
        return self._provenance

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``, numpy order."""
        return (int(self._values.shape[0]), int(self._values.shape[1]))

    @property
    def height(self) -> int:
        """H in pixels."""
        return self.shape[0]

    @property
    def width(self) -> int:
        """W in pixels."""
        return self.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)``, PIL order."""
        return (self.width, self.height)

    def mean(self) -> float:
        """Mean change, a float in [0, 1]."""
        return float(self._values.mean(dtype=np.float64))

    def max(self) -> float:
        """Largest change, a float in [0, 1]."""
        return float(self._values.max())

    def min(self) -> float:
        """Smallest change, a float in [0, 1]."""
        return float(self._values.min())

    def derive(self, values: Any, step: str) -> ChangeMap:
        """A new map with ``values`` and provenance ``f"{self.provenance} | {step}"``.

        Args:
            values: New values (validated like the constructor's).
            step: Description of the operation, e.g. ``"grow(8)"``.

        Returns:
            A new ChangeMap; ``self`` is unchanged.
        """
        return ChangeMap(values, provenance=f"{self._provenance} | {step}")

    # ----------------------------------------------------------------------------------------- writers
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """numpy protocol: ``np.asarray(m)`` is the read-only float32 ``(H, W)`` values (no copy)."""
        if dtype is None or np.dtype(dtype) == self._values.dtype:
            return self._values.copy() if copy else self._values
        if copy is False:
            raise ValueError(f"change_map: cannot convert float32 to {np.dtype(dtype)} without a copy")
        return self._values.astype(dtype)

    def to_pil(self) -> Image.Image:
        """Mode "L" image, ``round(v * 255)``, white = change."""
        return Image.fromarray(np.rint(self._values * np.float32(255)).astype(np.uint8))

    def to_tensor(self) -> torch.Tensor:
        """``(1, 1, H, W)`` float32 CPU tensor in [0, 1] (a copy), 1 = change."""
        import torch

        return torch.from_numpy(self._values.copy())[None, None]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the map atomically: ``.png`` as 8-bit grey (white = change), ``.npy`` as exact float32.

        Args:
            path: Destination; its folder must exist. Written to a temporary file in the same folder, then
                moved into place with ``os.replace`` so readers never see a partial file.

        Raises:
            ValueError: The suffix is neither ``.png`` nor ``.npy``.
            FileNotFoundError: The folder does not exist (the message names ``path``).
        """
        from automaps.io import atomic_write

        suffix = os.path.splitext(os.fspath(path))[1].lower()
        if suffix not in (".png", ".npy"):
            raise ValueError(f"path: expected a .png or .npy file name, got {os.fspath(path)!r}")
        with atomic_write(path) as f:
            if suffix == ".npy":
                np.save(f, self._values, allow_pickle=False)
            else:
                self.to_pil().save(f, format="PNG")

    def overlay(
        self, image: Image.Image, color: tuple[int, int, int] = (255, 0, 0), alpha: float = 0.6
    ) -> Image.Image:
        """The map tinted over ``image`` (RGB); see :func:`automaps.preview.overlay`."""
        from automaps.preview import overlay

        return overlay(self, image, color=color, alpha=alpha)

    def side_by_side(self, image: Image.Image) -> Image.Image:
        """``image | map (grey) | overlay`` as one RGB strip; see :func:`automaps.preview.side_by_side`."""
        from automaps.preview import side_by_side

        return side_by_side(self, image)

    def __repr__(self) -> str:
        prov = self._provenance
        if len(prov) > 60:  # keep the source and the last steps, which say the most
            prov = prov[:24] + " ... " + prov[-31:]
        stats = f"mean={self.mean():.2f}, max={self.max():.2f}"
        return f"ChangeMap({self.width}x{self.height}, {stats}, {prov!r})"
