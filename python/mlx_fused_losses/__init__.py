"""mlx-fused-losses: fused, exact and fast loss functions for MLX.

Every loss is a custom MLX primitive that computes the loss and its reduction in
one pass, with a one-pass gradient. Functions that ``mlx.nn.losses`` has keep its
signatures, so ``import mlx_fused_losses as losses`` can replace
``import mlx.nn.losses as losses``; :func:`patch_mlx` swaps them in place.
"""

from .pointwise import *  # noqa: F401,F403
from .pointwise import __all__ as _pointwise_all
from .row_softmax import *  # noqa: F401,F403
from .row_softmax import __all__ as _row_softmax_all
from .row_distance import *  # noqa: F401,F403
from .row_distance import __all__ as _row_distance_all

# (after the families: their decorators fill patch_mlx()'s registry)
from .patch import PATCHABLE, is_patched, patch_mlx, patched_mlx, unpatch_mlx  # noqa: E402

__version__ = "0.1.0"

__all__ = list(_pointwise_all) + list(_row_softmax_all) + list(_row_distance_all) + [
    "patch_mlx",
    "unpatch_mlx",
    "patched_mlx",
    "is_patched",
    "PATCHABLE",
]
