"""ltzoo: a timm-style model zoo for long-tailed image recognition.

``import ltzoo`` registers every ltzoo model with timm, so ``timm.create_model("resnet32_iwb")``
works as well as ``ltzoo.create_model("resnet32_iwb")``.
"""

import logging  # noqa: E402

from ltzoo.version import __version__  # noqa: E402

logging.getLogger("ltzoo").addHandler(
    logging.NullHandler()
)  # the application decides what is shown

from ltzoo import heads, methods, models  # noqa: E402,F401  (registers heads, methods and timm entrypoints)
from ltzoo.factory import create_model, list_models  # noqa: E402
from ltzoo.heads import list_heads  # noqa: E402
from ltzoo.hub import push_to_hub  # noqa: E402
from ltzoo.inference import load_for_inference, predict  # noqa: E402
from ltzoo.methods import list_methods  # noqa: E402

__all__ = [
    "__version__",
    "create_model",
    "list_models",
    "list_heads",
    "list_methods",
    "load_for_inference",
    "predict",
    "push_to_hub",
]
