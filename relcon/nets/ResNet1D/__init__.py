"""ResNet1D encoder package.

The one home of the ``padding="same"`` warning filter. It lives here rather than in
``ResNet1D_Net.py`` because that module imports torch, and ``relcon.embed`` (which runs exported
encoders without the Net class) must stay importable without torch.
"""
import warnings

SAME_PADDING_WARNING = "Using padding='same' with even kernel lengths"


def quiet_same_padding_warning() -> None:
    """Silence PyTorch's warning about ``padding="same"`` with even kernels.

    The reference config's even kernels (k = 4) make PyTorch pad a copy of the input, 1 left and
    2 right; that is the intended computation, so the warning is noise. Call it again wherever
    the warning filters were reset since import (``warnings.catch_warnings``, pytest).
    """
    warnings.filterwarnings("ignore", message=SAME_PADDING_WARNING, category=UserWarning)
