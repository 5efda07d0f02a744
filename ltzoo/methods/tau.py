from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "tau",
    MethodSpec(
        name="tau",
        head="tau_norm",
        description="tau-normalisation of the stage-1 classifier, tau chosen on a validation split",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
    ),
)
