from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "lws",
    MethodSpec(
        name="lws",
        head="lws",
        description="learnable weight scaling: per-class scales on the stage-1 classifier, class-balanced sampling",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
    ),
)
