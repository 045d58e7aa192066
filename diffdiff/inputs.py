"""Turning what users pass (PIL, numpy, torch, ``automaps.ChangeMap``) into the editor's tensors, and
back. Every error names the parameter and what was expected."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from automaps.imagefiles import MIN_SIDE, is_high_bit_depth, scale_high_bit_depth

__all__ = ["image_batch", "map_batch", "stock_form", "to_output"]

OUTPUT_TYPES = ("pil", "np", "pt", "latent")


def _pil_to_tensor(image: Image.Image) -> torch.Tensor:
    if is_high_bit_depth(image):
        # PIL's own conversion clips these to 0..255 (a 16-bit photo turns white): scale by the real range.
        grey = torch.from_numpy(scale_high_bit_depth(image, "image").astype(np.float32))
        return grey[None].expand(3, -1, -1).clone()
    try:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ValueError as error:  # a mode PIL cannot convert (e.g. "La")
        raise ValueError(f"image: cannot read a PIL image of mode {image.mode!r} as RGB ({error})") from error
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def _array_image(array: np.ndarray) -> torch.Tensor:
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (3, 4):
        raise ValueError(f"image: expected a numpy array (H, W, 3) or (B, H, W, 3), got shape {array.shape}")
    array = array[..., :3]
    if array.dtype == np.uint8:
        tensor = torch.from_numpy(array.astype(np.float32) / 255.0)
    elif np.issubdtype(array.dtype, np.floating):
        tensor = torch.from_numpy(array.astype(np.float32))
    else:
        raise TypeError(f"image: expected uint8 or float numpy data, got {array.dtype}")
    return tensor.permute(0, 3, 1, 2)


def image_batch(image: Any) -> torch.Tensor:
    """Normalise an image argument to a float batch.

    Args:
        image: a PIL image (any mode; converted to RGB, alpha dropped, 16-bit and float modes scaled by their
            range; EXIF orientation is not applied), a list of PIL images of one size, a numpy
            ``(H, W, 3)`` / ``(B, H, W, 3)`` array (uint8, or float in [0, 1]), or a torch tensor
            ``(3, H, W)`` / ``(B, 3, H, W)`` in [0, 1]. The input is never modified.

    Returns:
        ``(B, 3, H, W)`` float32 in [0, 1] on the CPU.

    Raises:
        TypeError: for an unsupported type.
        ValueError: for a wrong shape, mixed sizes, non-finite values, values outside [0, 1] or a side
            below :data:`MIN_SIDE` pixels.
    """
    if isinstance(image, Image.Image):
        batch = _pil_to_tensor(image)[None]
    elif isinstance(image, Sequence) and not isinstance(image, (str, bytes)) and len(image) > 0:
        parts = [image_batch(item) for item in image]
        sizes = {tuple(p.shape[-2:]) for p in parts}
        if len(sizes) != 1:
            raise ValueError(f"image: all images of a batch must have one size, got {sorted(sizes)}")
        batch = torch.cat(parts)
    elif isinstance(image, torch.Tensor):
        batch = image.detach().to("cpu", torch.float32)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise ValueError(
                f"image: expected a tensor (3, H, W) or (B, 3, H, W) in [0, 1], got {tuple(image.shape)}"
            )
        batch = batch.clone()
    elif isinstance(image, np.ndarray):
        batch = _array_image(image)
    else:
        raise TypeError(
            f"image: expected a PIL image, numpy array or torch tensor, got {type(image).__name__}"
        )
    if batch.shape[-1] < 1 or batch.shape[-2] < 1:
        raise ValueError(f"image: empty image of shape {tuple(batch.shape)}")
    if min(batch.shape[-2:]) < MIN_SIDE:
        height, width = batch.shape[-2:]
        raise ValueError(f"image: {width}x{height} pixels is too small; the minimum is {MIN_SIDE} pixels per side")
    if not torch.isfinite(batch).all():
        raise ValueError("image: contains NaN or Inf")
    if batch.min() < -1e-6 or batch.max() > 1 + 1e-6:
        raise ValueError(
            f"image: expected values in [0, 1], got min {batch.min().item():.3g} max {batch.max().item():.3g}"
        )
    return batch.clamp(0, 1)


def _one_map(change_map: Any) -> torch.Tensor:
    """One map (or a ``(B, 1, H, W)`` batch) as float32 ``(b, 1, H, W)`` in [0, 1], read by automaps' rules.

    :func:`automaps._inputs.coerce` is the one reader, so the editor and ``automaps.ChangeMap`` read every
    input alike (dtype scaling, 0/1 masks, alpha, colour luminance, range and NaN checks).
    """
    from automaps._inputs import coerce

    expected = f"change_map: expected a PIL image, array, tensor or ChangeMap, got {type(change_map).__name__}"
    if isinstance(change_map, (str, bytes)):
        raise TypeError(expected)
    if not isinstance(change_map, (Image.Image, torch.Tensor)):
        try:
            change_map = np.asarray(change_map)
        except Exception as error:  # objects without __array__ fail in many ways
            raise TypeError(expected) from error
    shape = getattr(change_map, "shape", ())
    if len(shape) == 4 and shape[0] > 1 and shape[1] == 1:  # a batch of maps, one per image
        return torch.cat([_one_map(change_map[i : i + 1]) for i in range(shape[0])])
    return torch.from_numpy(coerce(change_map, name="change_map"))[None, None]


def map_batch(change_map: Any, batch: int, size: tuple[int, int], invert: bool = False) -> torch.Tensor:
    """Normalise a change-map argument to one map per image at the image's size.

    Args:
        change_map: a PIL image ("L" or any mode), numpy ``(H, W)`` float in [0, 1], torch ``(H, W)`` /
            ``(1, H, W)`` / ``(B, 1, H, W)``, any object with ``__array__`` (an ``automaps.ChangeMap``), a
            number (a uniform map), or a list of maps, one per image; read by ``automaps.ChangeMap``'s rules
            (bool and integer 0/1 arrays are masks, else uint8 /255 and uint16 /65535; alpha multiplies;
            colour maps become luminance). 1 = change fully, 0 = keep.
        batch: number of images; a single map is shared by all of them.
        size: ``(H, W)`` of the images; maps of another size are resampled (with a warning when the
            aspect ratio differs).
        invert: read a map in the paper's convention (white = keep) by taking ``1 - m``.

    Returns:
        ``(batch, 1, H, W)`` float32 in [0, 1], 1 = change fully.

    Raises:
        TypeError: for an unsupported type or dtype.
        ValueError: for NaN/Inf, values outside [0, 1], wrong dimensions or a batch mismatch.
    """
    if isinstance(change_map, (int, float)) and not isinstance(change_map, bool):
        # A number is a uniform map: plain img2img at that strength.
        change_map = torch.full(size, float(change_map))
    if isinstance(change_map, (list, tuple)) and len(change_map) > 0 and not np.isscalar(change_map[0]):
        maps = [map_batch(item, 1, size, invert) for item in change_map]
        tensor = torch.cat(maps)
    else:
        tensor = _one_map(change_map)
        if invert:
            tensor = 1.0 - tensor
        if tuple(tensor.shape[-2:]) != tuple(size):
            (h, w), (H, W) = tensor.shape[-2:], size
            if abs(h / w - H / W) > 0.01 * (H / W):
                warnings.warn(
                    f"change_map: size {w}x{h} has another aspect ratio than the image ({W}x{H}); "
                    "it is stretched to the image",
                    stacklevel=3,
                )
            tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    if tensor.shape[0] == 1 and batch > 1:
        tensor = tensor.expand(batch, -1, -1, -1)
    if tensor.shape[0] != batch:
        raise ValueError(f"change_map: got {tensor.shape[0]} maps for {batch} images; pass one map or one per image")
    return tensor.contiguous()


def to_output(images: torch.Tensor, output_type: str) -> Any:
    """Convert ``(B, 3, H, W)`` float in [0, 1] to the requested output type.

    Returns:
        ``"pil"``: list of RGB PIL images; ``"np"``: float32 ``(B, H, W, 3)``; ``"pt"``: the tensor.
    """
    if output_type == "pt":
        return images
    array = images.permute(0, 2, 3, 1).float().cpu().numpy()
    if output_type == "np":
        return array
    return [Image.fromarray(np.round(a * 255).astype(np.uint8)) for a in array]


def stock_form(image: Any, pixels: torch.Tensor, repeat: int = 1) -> Any:
    """The images as a stock diffusers pipeline's image processor would receive them from the user.

    Stock pipelines preprocess each input type their own way (PIL images resized with PIL and laid out
    channels-last, numpy arrays transposed, tensors resized with torch); following that path for each type is
    what makes PIL, numpy and tensor inputs all give stock's bytes.

    Args:
        image: what the user passed (as :func:`image_batch` accepts it).
        pixels: ``image_batch(image)``: ``(B, 3, H, W)`` float32 in [0, 1].
        repeat: copies of each image, consecutive (``num_images_per_prompt``).

    Returns:
        A list of RGB PIL images (8-bit PIL input of any mode, converted to RGB); a C-contiguous float32
        ``(B * repeat, H, W, 3)`` array in [0, 1] (numpy input; uint8 read as /255); otherwise ``pixels``
        repeated (tensors, and 16-bit or float PIL images, which stock pipelines cannot read).
    """
    items = image if isinstance(image, Sequence) and not isinstance(image, (str, bytes, np.ndarray)) else [image]
    if all(isinstance(item, Image.Image) and not is_high_bit_depth(item) for item in items):
        rgb = [item if item.mode == "RGB" else item.convert("RGB") for item in items]
        return [item for item in rgb for _ in range(repeat)]
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(np.repeat(pixels.permute(0, 2, 3, 1).numpy(), repeat, axis=0))
    return pixels.repeat_interleave(repeat, 0)
