from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "wd_maxnorm",
    MethodSpec(
        name="wd_maxnorm",
        head="linear",
        description="weight balancing: stage-2 classifier re-training with weight decay and a per-class "
        "weight-norm cap (MaxNorm, projected gradient)",
        paper="Alshammari et al., Long-Tailed Recognition via Weight Balancing, CVPR 2022",
    ),
)
