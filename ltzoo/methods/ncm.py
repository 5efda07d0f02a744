from ltzoo.methods.spec import MethodSpec
from ltzoo.registry import METHODS

METHODS.register(
    "ncm",
    MethodSpec(
        name="ncm",
        head="ncm",
        description="nearest class mean on L2-normalised frozen features (cosine)",
        paper="Kang et al., Decoupling Representation and Classifier for Long-Tailed Recognition, ICLR 2020",
    ),
)
