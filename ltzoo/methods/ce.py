from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "ce",
    MethodSpec(
        name="ce",
        head="linear",
        description="joint training with instance-balanced sampling and cross-entropy (stage 1 only)",
        paper="He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
    ),
)
