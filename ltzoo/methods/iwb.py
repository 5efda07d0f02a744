from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "iwb",
    MethodSpec(
        name="iwb",
        head="linear",
        description="inverse weight-balancing: stage-2 classifier fine-tuning with a KL weight-norm regulariser",
        paper="Dang et al., Inverse Weight-Balancing for Deep Long-Tailed Learning, AAAI 2024",
    ),
)
