"""The model wrapper every steerlens component talks to.

A :class:`Classifier` takes images in ``[0, 1]`` of shape ``(N, C, H, W)`` and returns logits
``(N, num_classes)``. Input normalisation lives inside the wrapper, never in the transform, so the
pyramid always sees the image the user sees. Class names travel with the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class Classifier(nn.Module):
    """An image classifier in steerlens's conventions.

    Parameters
    ----------
    net
        Network mapping normalised inputs to logits.
    class_names
        One name per output logit.
    input_size
        ``(H, W)`` the network expects; images are resized/centre-cropped to it.
    channels
        1 (grayscale) or 3 (RGB).
    normalize
        Maps ``[0, 1]`` images to what ``net`` expects. Identity by default.
    name
        Short name shown in outputs (e.g. ``"efficientnet-lite0"``).
    spec
        Provenance written to ``result.json``: how the model was loaded, weights hash, accuracy...

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> clf = Classifier(net, ["a", "b"], (2, 2), 1, name="toy")
    >>> clf(torch.rand(3, 1, 2, 2)).shape
    torch.Size([3, 2])
    """

    def __init__(
        self,
        net: nn.Module,
        class_names: list[str],
        input_size: tuple[int, int],
        channels: int,
        normalize: Callable[[Tensor], Tensor] | None = None,
        name: str = "model",
        spec: dict | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.class_names = list(class_names)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.channels = int(channels)
        self._normalize = normalize
        self.name = name
        self.spec = dict(spec or {})
        self.spec.setdefault("name", name)

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return len(self.class_names)

    def raw_forward(self, x: Tensor) -> Tensor:
        """The wrapped network's output for images ``x`` in ``[0, 1]``, unchecked."""
        if self._normalize is not None:
            x = self._normalize(x)
        return self.net(x)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` for images ``x`` ``(N, C, H, W)`` in ``[0, 1]``.

        A network that raises, or returns anything but one row of ``num_classes`` logits per
        image, is reported as a one-line :class:`~steerlens.errors.ModelError` naming what it did
        (user models loaded from TorchScript or ``module:factory`` are the usual culprits). The
        check reads shapes only, so it costs no device synchronisation.
        """
        from steerlens.errors import ModelError, SteerlensError, model_label
        from steerlens.validation import check_logits, describe_exception

        try:
            out = self.raw_forward(x)
        except SteerlensError:
            raise
        except Exception as err:  # noqa: BLE001 - a failure inside the network is the model's
            raise ModelError(
                f"{model_label(self.name)} raised {describe_exception(err)} on a batch of shape "
                f"{tuple(x.shape)}; check the model, its input size and channels"
            ) from None
        if self.class_names:
            return check_logits(out, x.shape[0], self.num_classes, self.name, finite=False)
        return out

    @torch.no_grad()
    def probabilities(self, x: Tensor) -> Tensor:
        """Softmax probabilities, no gradient."""
        return torch.softmax(self(x).float(), dim=-1)
