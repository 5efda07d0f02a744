"""CE: joint training of encoder and linear classifier with cross-entropy and instance-balanced
sampling (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016): stage 1 alone,
the encoder every stage-2 method starts from."""

from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHOD = METHODS.register(
    "ce",
    MethodSpec(
        name="ce",
        head="linear",
        description="joint training with instance-balanced sampling and cross-entropy (stage 1 only)",
        paper="He et al., Deep Residual Learning for Image Recognition, CVPR 2016",
    ),
)
