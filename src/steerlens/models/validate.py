"""Check that a loaded model really maps images to one row of finite logits per image."""

from __future__ import annotations

import torch
from torch import Tensor

from steerlens.errors import ModelError
from steerlens.models.base import Classifier


def zeros_forward(model: Classifier, device: torch.device | str = "cpu") -> Tensor:
    """Run ``model`` on one all-zeros image of its input size and return the raw output.

    Raises
    ------
    ModelError
        If the forward pass fails or does not return a tensor.

    Examples
    --------
    >>> zeros_forward(Classifier(torch.nn.Flatten(), ["a"], (2, 3), 1)).shape
    torch.Size([1, 6])
    """
    shape = (1, model.channels, *model.input_size)
    x = torch.zeros(shape, device=device)
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:  # noqa: BLE001 - a failure in user code is a model problem
        msg = str(err).strip().splitlines()
        raise ModelError(
            f"model {model.name} failed on an input of shape {shape} ({type(err).__name__}: "
            f"{msg[0] if msg else ''}); check its input size and channels"
        ) from None
    if not isinstance(out, Tensor):
        raise ModelError(
            f"model {model.name} output is a {type(out).__name__}, not a tensor; "
            "return the logits tensor (N, num_classes) from forward()"
        )
    return out


def check_logits(out: Tensor, num_classes: int | None, name: str = "model") -> None:
    """Raise :class:`ModelError` unless ``out`` is finite logits ``(1, num_classes)``.

    ``num_classes=None`` skips the class-count check.

    Examples
    --------
    >>> check_logits(torch.zeros(1, 3), 3)
    >>> check_logits(torch.zeros(1, 3), 2)
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: model model outputs 3 logits but has 2 class names; ...
    """
    if out.dim() != 2 or out.shape[0] != 1:
        raise ModelError(
            f"model {name} output has shape {tuple(out.shape)} for one image; expected logits of "
            "shape (N, num_classes): end the network with a pooled/flattened linear head"
        )
    if not torch.isfinite(out).all():
        raise ModelError(
            f"model {name} output is not finite (NaN or inf) on a zeros image; "
            "check its weights and input normalisation"
        )
    if num_classes is not None and out.shape[1] != num_classes:
        raise ModelError(
            f"model {name} outputs {out.shape[1]} logits but has {num_classes} class names; "
            f"give a class-names file with {out.shape[1]} lines"
        )


def validate_model(model: Classifier, device: torch.device | str = "cpu") -> None:
    """Run one forward pass on zeros and check the output is ``(1, num_classes)`` and finite.

    Parameters
    ----------
    model
        The wrapped classifier, already on ``device``.
    device
        Where to build the test input.

    Raises
    ------
    ModelError
        One-line message if the output is not 2-D, disagrees with ``class_names`` or is not finite.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> validate_model(Classifier(net, ["a", "b"], (2, 2), 1))
    >>> validate_model(Classifier(torch.nn.Identity(), ["a"], (2, 2), 1))
    Traceback (most recent call last):
    ...
    steerlens.errors.ModelError: model model output has shape (1, 1, 2, 2) for one image; ...
    """
    check_logits(zeros_forward(model, device), model.num_classes, model.name)
