"""The change map value type: float32 ``(H, W)`` in [0, 1], 1 = regenerate fully, 0 = keep.

The paper's reference code stores the opposite polarity (white = keep); such a map is read with an explicit
``invert=True``, never by guessing.
"""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from automaps._inputs import coerce, lossy_format, pil_to_array, snap_lossy
from automaps.imagefiles import open_image_file

if TYPE_CHECKING:
    import torch

__all__ = ["ChangeMap"]


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
            arr = coerce(values)
            arr.flags.writeable = False
        self._values: np.ndarray = arr
        self._provenance = provenance

    # ----------------------------------------------------------------------------------------- readers
    @classmethod
    def from_array(cls, array: Any, *, invert: bool = False, provenance: str = "array") -> ChangeMap:
        """Build a map from a numpy array, torch tensor, PIL image or anything with ``__array__``.

        Accepted forms (the input is never modified):

        - dtype: float in [0, 1]; bool, and any integer array holding only 0 and 1, is a 0/1 mask; otherwise
          uint8 is scaled by 1/255, uint16 by 1/65535, and other integer dtypes are refused.
        - shape: ``(H, W)``, ``(H, W, 1)``, ``(1, H, W)``, ``(1, 1, H, W)``; ``(H, W, 3)`` / ``(H, W, 4)``
          colour maps become the ITU-R 601-2 luminance (PIL "L") of their RGB channels, times the alpha
          channel of ``(H, W, 4)`` (transparent = keep). Torch tensors are
          read channels-first (``(1, H, W)``, colour ``(3, H, W)``), arrays channels-last when ambiguous.

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
        m._values = coerce(values, invert=invert)
        m._values.flags.writeable = False
        m._provenance = f"{provenance} | invert" if invert else provenance
        return m

    @classmethod
    def from_pil(cls, image: Image.Image, *, invert: bool = False, provenance: str = "image") -> ChangeMap:
        """Build a map from a PIL image of any mode.

        "1" and "L" are read as masks; "I;16" as 16-bit (and "I" within the 16-bit range); "F" must already
        be in [0, 1]; colour modes (RGB, P, CMYK, ...) become luminance. Alpha (RGBA, LA, PA, P with
        transparency) multiplies the map: a transparent pixel is kept. An image holding only the values 0 and 1
        is a 0/1 mask, as for integer arrays.

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
        return cls.from_array(pil_to_array(image, name="image"), invert=invert, provenance=provenance)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, invert: bool = False, name: str = "path") -> ChangeMap:
        """Read a map from an image file (any format PIL reads) or a ``.npy`` array.

        Image files are opened by :func:`automaps.imagefiles.open_image_file` (the one opener, also used for the
        image the map belongs to): fully decoded, upright by their EXIF orientation, PIL's decompression-bomb
        guard on. A lossy file (JPEG, lossy WebP, told by its bytes) has values within 8/255 of 0 or 1 snapped
        to 0 or 1, with a one-line warning when any moved: compression noise would otherwise free kept pixels.

        Args:
            path: File to read. Provenance becomes ``"file('<file name>')"``.
            invert: True for the paper's polarity (white = keep).
            name: Parameter named in error messages (``"change_map"`` when it is an argument of ``edit``).

        Returns:
            A ChangeMap at the file's resolution.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: ``path`` is not a readable image or ``.npy`` file (corrupt, truncated, a
                decompression bomb), or its values are invalid.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{name}: change map file {path!r} does not exist (or is not a file)")
        provenance = f"file({os.path.basename(path)!r})"
        if path.lower().endswith(".npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as e:
                raise ValueError(f"{name}: {path!r} is not a readable .npy array ({e})") from e
            return cls.from_array(array, invert=invert, provenance=provenance)
        image = open_image_file(path, name)
        values = coerce(pil_to_array(image, name=name), name=name)
        if (lossy := lossy_format(path)) is not None:
            # Compression noise near black would free pixels meant to be kept (q75: 1 in 15 of them).
            values, moved = snap_lossy(values)
            if moved:
                warnings.warn(f"{name}: {os.path.basename(path)!r} is a {lossy} file: {moved} values within 8/255 "
                              "of 0 or 1 were snapped to 0 or 1; noise near sharp edges remains, save maps as PNG",
                              stacklevel=2)
        return cls.from_array(values, invert=invert, provenance=provenance)

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
