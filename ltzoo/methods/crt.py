from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "crt",
    MethodSpec(
        name="crt",
        head="linear",
        description="classifier re-training: re-initialised linear head on the frozen encoder, class-balanced sampling",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
    ),
)
