"""Predictions of a deployed model on image files or PIL images: ``ltzoo.predict`` / ``ltzoo predict``.

The model's own forward gives the scores, so the temperature and logit adjustment a run carries
(:mod:`ltzoo.models.calibration`) are in the probabilities. Preprocessing is timm's: the data
config resolved from the model's ``pretrained_cfg`` (``timm.data.resolve_data_config``; a run
folder stores the size, mean/std, crop and interpolation its evaluation used) and
``timm.data.create_transform``; each image is converted to "L" or "RGB" by the channel count of
``input_size``. Class names are the model's ``label_names`` when it has them, else the indices.

>>> records = ltzoo.predict(ltzoo.load_for_inference("runs/digits_lt"), ["a.png", "photos/"], topk=3)
>>> records[0]["label"], records[0]["probability"]
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import torch

from ltzoo.errors import InputError
from ltzoo.factory import create_model, list_models

ImageInput = Union[str, os.PathLike, "Image.Image"]  # noqa: F821  (PIL, imported lazily)
HUB_PREFIXES = ("hf-hub:", "hf_hub:", "local-dir:")


def _checkpoint_shapes(path: Path) -> Dict[str, Tuple[int, ...]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except SafetensorError as error:
        raise InputError(
            f"--checkpoint {str(path)!r} is not a readable safetensors file ({error}); the file is "
            "damaged"
        ) from None


def _from_checkpoint(name: str, checkpoint: Union[str, os.PathLike]):
    """Registered ``name`` with the weights of a ``.safetensors`` file; the number of classes and
    input channels are read from the file's tensor shapes."""
    from timm.models import get_pretrained_cfg

    path = Path(checkpoint)
    if path.suffix != ".safetensors":
        raise InputError(
            f"--checkpoint {str(path)!r} is not allowed: ltzoo loads weights from .safetensors files only"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    shapes = _checkpoint_shapes(path)
    cfg = get_pretrained_cfg(name.split(".")[0]) if name.split(".")[0] in list_models() else None
    first_conv = f"{cfg.first_conv if cfg else 'backbone.conv1'}.weight"
    if "calibration.bias" not in shapes or first_conv not in shapes:
        raise InputError(
            f"{str(path)!r} holds no ltzoo model weights (no calibration.bias or {first_conv} tensor)"
        )
    in_chans = shapes[first_conv][1]
    try:
        model = create_model(
            name,
            num_classes=shapes["calibration.bias"][0],
            in_chans=in_chans,
            checkpoint_path=str(path),
        )
    except RuntimeError as error:  # keys or shapes that do not fit the architecture
        raise InputError(
            f"{str(path)!r} does not fit the model {name!r}: {str(error).splitlines()[0]} "
            "(a run folder's config.json names its architecture)"
        ) from None
    size = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
    model.pretrained_cfg = dict(model.pretrained_cfg, input_size=(in_chans,) + size[1:])
    return model


def load_for_inference(
    source: Union[str, os.PathLike, torch.nn.Module], checkpoint=None, device=None
):
    """A model in eval mode from ``source``: a model, a run folder (or any folder holding
    ``config.json`` + ``model.safetensors``), ``local-dir:DIR``, ``hf-hub:org/name[@revision]``, or a
    registered name (``ltzoo.list_models()``) with ``checkpoint=PATH.safetensors``."""
    from ltzoo.hub import load_pretrained

    device = check_device(device)
    if isinstance(source, torch.nn.Module):
        model = source
    elif checkpoint is not None:
        model = _from_checkpoint(str(source), checkpoint)
    elif str(source).startswith(HUB_PREFIXES):
        model = create_model(str(source), pretrained=True)
    elif Path(source).is_dir():
        model = load_pretrained(source)
    else:
        raise InputError(
            f"model {str(source)!r} is not allowed: expected a run folder, 'local-dir:DIR', "
            "'hf-hub:org/name', or a registered model name with --checkpoint PATH.safetensors"
        )
    return model.to(device).eval() if device is not None else model.eval()


INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


def input_channels(model) -> int:
    """The channels ``model`` takes: ``in_chans``, else its ``pretrained_cfg`` input size's."""
    return getattr(model, "in_chans", None) or model.pretrained_cfg["input_size"][0]


def check_data_args(model, data_args: Dict[str, Any]) -> None:
    """Refuse, naming the option, the value and what is allowed, preprocessing that cannot fit
    ``model``: ``input_size`` is (its input channels, height, width), ``mean`` / ``std`` hold one
    finite value per channel (``std`` > 0), ``crop_pct`` is in (0, 1], ``interpolation`` is one of
    :data:`INTERPOLATIONS`."""
    channels = input_channels(model)
    size = data_args.get("input_size")
    if size is not None:
        size = tuple(size)
        if len(size) != 3 or size[0] != channels or min(size) < 1:
            raise InputError(
                f"input_size={list(size)} is not allowed: the model takes ({channels}, height, "
                "width), each >= 1"
            )
        channels = size[0]
    for name in ("mean", "std"):
        values = data_args.get(name)
        if values is None:
            continue
        values = list(values)
        bad = len(values) not in (1, channels) or not all(math.isfinite(v) for v in values)
        if bad or (name == "std" and min(values) <= 0):
            positive = ", each > 0" if name == "std" else ""
            raise InputError(
                f"{name}={values} is not allowed: one finite value, or one per input channel "
                f"({channels}){positive}"
            )
    crop = data_args.get("crop_pct")
    if crop is not None and not (math.isfinite(crop) and 0 < crop <= 1):
        raise InputError(f"crop_pct={crop} is not allowed: it must be in (0, 1]")
    mode = data_args.get("interpolation")
    if mode is not None and mode not in INTERPOLATIONS:
        raise InputError(
            f"interpolation={mode!r} is not allowed; allowed: {', '.join(INTERPOLATIONS)}"
        )


def check_device(device: Optional[str]) -> Optional[torch.device]:
    """``device`` as a ``torch.device``, refused in one line when it is not one this machine has."""
    if device is None:
        return None
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise InputError(
            f"device={device!r} is not allowed: expected cpu, cuda, cuda:N or mps"
        ) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device={device!r} is not allowed: this machine has no CUDA GPU")
    if (
        parsed.type == "cuda"
        and parsed.index is not None
        and parsed.index >= torch.cuda.device_count()
    ):
        raise InputError(
            f"device={device!r} is not allowed: this machine has {torch.cuda.device_count()} GPU(s)"
        )
    if parsed.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device={device!r} is not allowed: expected cpu, cuda, cuda:N or mps")
    return parsed


def preprocessing(model, **data_args: Any) -> Tuple[Callable, Dict[str, Any]]:
    """``(transform, data_config)``: timm's eval transform for ``model``; ``data_args`` (``input_size``,
    ``mean``, ``std``, ``crop_pct``, ``interpolation``, ``crop_mode``) override its ``pretrained_cfg``
    (checked first by :func:`check_data_args`)."""
    from timm.data import create_transform, resolve_data_config

    check_data_args(model, data_args)
    args = {k: v for k, v in data_args.items() if v is not None}
    # timm expands a one-value mean / std to its ``chans`` argument, 3 unless given
    args["chans"] = tuple(args.get("input_size") or (input_channels(model),))[0]
    config = resolve_data_config(args, model=model)
    return create_transform(**config), config


def find_images(inputs: Iterable[ImageInput]) -> List[ImageInput]:
    """Files and PIL images as given, folders walked recursively (sorted) for image extensions
    (torchvision's ``IMG_EXTENSIONS``, any case). A folder without images raises ``ValueError``."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    found: List[ImageInput] = []
    for item in inputs:
        if isinstance(item, (str, os.PathLike)) and os.path.isdir(item):
            files = sorted(
                os.path.join(top, name)
                for top, _, names in os.walk(item)
                for name in names
                if name.lower().endswith(IMG_EXTENSIONS)
            )
            if not files:
                raise InputError(
                    f"folder {str(item)!r} holds no image files ({', '.join(IMG_EXTENSIONS)})"
                )
            found.extend(files)
        else:
            found.append(str(item) if isinstance(item, os.PathLike) else item)
    return found


def _open(item: ImageInput, mode: str):
    from ltzoo.data.files import load_image

    return item.convert(mode) if hasattr(item, "convert") else load_image(item, mode)


def label_names(model) -> List[str]:
    names = (getattr(model, "pretrained_cfg", None) or {}).get("label_names")
    return (
        [str(n) for n in names]
        if names and len(names) == model.num_classes
        else [str(i) for i in range(model.num_classes)]
    )


def iter_predictions(
    model,
    images: Iterable[ImageInput],
    topk: int = 5,
    batch_size: int = 32,
    on_error: Optional[Callable[[str, Exception], None]] = None,
    **data_args: Any,
) -> Iterator[Dict[str, Any]]:
    """One record per readable image, batch by batch (see :func:`predict`)."""
    if isinstance(topk, bool) or not isinstance(topk, int) or topk < 1:
        raise InputError(f"topk={topk!r} is not allowed; it must be an integer >= 1")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size={batch_size!r} is not allowed; it must be an integer >= 1")
    model = load_for_inference(model)
    transform, config = preprocessing(model, **data_args)
    mode = "L" if config["input_size"][0] == 1 else "RGB"
    names, k = label_names(model), min(topk, model.num_classes)
    device = next(model.parameters()).device
    items = find_images(images)
    for start in range(0, len(items), batch_size):
        batch, keys = [], []
        for position, item in enumerate(items[start : start + batch_size], start):
            key = item if isinstance(item, str) else position
            try:
                batch.append(transform(_open(item, mode)))
            except (
                OSError,
                ValueError,
            ) as error:  # unreadable, or an image the transform cannot take
                if on_error is None:
                    raise
                on_error(str(key), error)
                continue
            keys.append(key)
        if not batch:
            continue
        with torch.no_grad():
            probs = model(torch.stack(batch).to(device)).float().softmax(dim=1).cpu()
        values, indices = probs.topk(k, dim=1)
        for key, vals, idxs in zip(keys, values.tolist(), indices.tolist()):
            top = [{"label": names[i], "index": i, "probability": v} for v, i in zip(vals, idxs)]
            yield {
                "image": key,
                "label": top[0]["label"],
                "index": top[0]["index"],
                "probability": top[0]["probability"],
                "topk": top,
            }


def predict(
    model,
    images: Union[ImageInput, Sequence[ImageInput]],
    topk: int = 5,
    batch_size: int = 32,
    on_error: Optional[Callable[[str, Exception], None]] = None,
    **data_args: Any,
) -> List[Dict[str, Any]]:
    """Top-``topk`` classes with calibrated probabilities for every image.

    ``model``: a model or anything :func:`load_for_inference` takes. ``images``: paths, folders
    (walked recursively) or PIL images. Each record: ``image`` (the path, or the position of a PIL
    image), ``label``/``index``/``probability`` of the top class, and ``topk``, a list of
    ``{"label", "index", "probability"}``. An unreadable file raises
    :class:`~ltzoo.data.files.UnreadableImageError` naming it, unless ``on_error(name, error)`` is
    given: then it is called and the file skipped. ``data_args`` override the model's data config.
    """
    if isinstance(images, (str, os.PathLike)) or hasattr(images, "convert"):
        images = [images]
    return list(
        iter_predictions(
            model, images, topk=topk, batch_size=batch_size, on_error=on_error, **data_args
        )
    )
