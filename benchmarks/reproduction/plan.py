"""Every run of the CIFAR-LT tables, as data, in the order a short session should fill them.

A row is one training (``ltzoo train``) or one search (``ltzoo tune``): a recipe, the overrides it adds,
its seed, its backbone and, for a decoupled stage-2 row, the row whose stage-1 encoder it reuses
(``stage1.from_run``: one CE encoder per dataset / IF / backbone, as Kang et al., ICLR'20 decouple).
Its id, ``<dataset>/if<IF>/<backbone>/<name>``, is also where its record is stored.

Order: the paper backbones on CIFAR-100-LT IF 100 (the networks the weight-balancing papers' code
trains, which need a GPU), then IF 50, then He et al.'s ResNet-32 on CIFAR-100-LT (IF 100, 50), then
CIFAR-10-LT.

Paper numbers (top-1 All) and where they come from: :data:`SOURCES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

C100, C10 = "cifar100_lt", "cifar10_lt"
R32, R34, X8 = "resnet32", "resnet34_cifar", "resnet32_x8"
GPU_BACKBONES = (
    R34,
    X8,
)  # their rows need a GPU (a stage 1 takes 12 to 26 hours on the 2-core CPU)

SOURCES = {
    "dang": "Dang et al., AAAI'24, Table 1",
    "cao": "Cao et al., NeurIPS'19, Table 2 (100 minus the top-1 error)",
    "wd_tau": "the CIFAR-LT weight-decay and tau-norm study (after Alshammari et al., CVPR'22 and "
    "Kang et al., ICLR'20), Table 5 (weight decay + tau-norm)",
    "lee": "Lee (Yonsei University, 2022), Sec. 5.2, ResNet-18 (experts: Lee's experts + LWS)",
    "paco": "Cui et al., ICCV'21 (PaCo), Table 2, ResNet-32: 400 epochs, AutoAugment + Cutout, "
    "a contrastive branch, best test epoch",
}

# Dang et al., AAAI'24, Table 1, CIFAR-100-LT top-1 at IF (100, 50). Its CE row is the plain CE
# baseline of the earlier papers (weight decay 2e-4); ce.yaml is the weight-decay-tuned CE the decoupled
# rows start from, so it is expected above.
DANG = {
    "ce": (38.38, 43.85),
    "tau": (47.73, 52.53),
    "ldam_drw": (42.04, 46.62),
    "logit_adjusted": (43.89, 47.03),
    "wd_maxnorm": (48.60, 53.20),
    "wd_maxnorm_cb": (53.55, 57.71),
    "iwb": (53.3, 56.3),
    "iwb_cb": (54.8, 57.82),
}
# the authors' IWB loss (IWB-torch, utils/trainval.py): lambda 0.01 on their natural-log NC
REFERENCE_IWB = (
    "stage2.method_options.iwb.variant=reference",
    "stage2.method_options.iwb.lam=0.0069315",
)
NO_STAGE2 = ("stage2.methods=[]",)
# the authors' code's stage 2 (LTR-weight-balancing): CB loss as binary cross-entropy on softmax
# probabilities, MaxNorm projection once per epoch
CB_BCE = (
    "stage2.method_options.wd_maxnorm.cb_loss_type=softmax_bce",
    "stage2.method_options.wd_maxnorm.project_every=epoch",
)
ENCODER = "ce"  # the name of every block's shared CE encoder row


@dataclass(frozen=True)
class Row:
    dataset: str
    imbalance: float
    backbone: str
    name: str  # unique within dataset / IF / backbone
    label: str  # the method, as the tables print it
    recipe: str  # relative to the repository root
    overrides: Tuple[str, ...] = ()  # KEY=VALUE the row adds to its recipe
    seed: int = 0
    # the name of the row (same dataset / IF / backbone) whose stage 1 it takes
    encoder: Optional[str] = None
    paper: Optional[float] = None
    source: Optional[str] = None  # a key of SOURCES
    tune: Tuple[str, ...] = ()  # ltzoo tune arguments: the row is a search, not one training

    @property
    def id(self) -> str:
        return f"{self.dataset}/if{self.imbalance:g}/{self.backbone}/{self.name}"

    @property
    def needs(self) -> Optional[str]:
        """The id of the row whose encoder this one reuses."""
        if self.encoder is None:
            return None
        return f"{self.dataset}/if{self.imbalance:g}/{self.backbone}/{self.encoder}"

    @property
    def needs_gpu(self) -> bool:
        return self.backbone in GPU_BACKBONES


@dataclass(frozen=True)
class Block:
    """Rows of one dataset / IF / backbone; ``papers``: row name -> (top-1, a key of SOURCES)."""

    dataset: str
    imbalance: float
    backbone: str
    papers: Dict[str, Tuple[float, str]]

    def row(self, name, label, recipe, overrides=(), compare=None, **kwargs) -> Row:
        """``compare``: the name whose paper number the row stands against (default: its own)."""
        paper, source = self.papers.get(compare or name, (None, None))
        row = (self.dataset, self.imbalance, self.backbone, name, label, recipe, tuple(overrides))
        return Row(*row, paper=paper, source=source, **kwargs)

    def stage2(self, name, label, recipe, overrides=(), compare=None) -> Row:
        """A decoupled row on the block's shared CE encoder."""
        return self.row(name, label, recipe, overrides, compare, encoder=ENCODER)


def dang(imbalance: int) -> Dict[str, Tuple[float, str]]:
    """Dang et al.'s Table 1 column at ``imbalance`` (IF 100 and 50; none at other factors)."""
    if imbalance not in (100, 50):
        return {}
    column = {100: 0, 50: 1}[imbalance]
    return {name: (top1[column], "dang") for name, top1 in DANG.items()}


def paper_backbone_rows(imbalance: int) -> List[Row]:
    """CIFAR-100-LT on the networks the authors' code trains (recipes/cifar100_lt/paper_backbones):
    ResNet-32 at 8x width (Dang et al.) and the CIFAR-stem ResNet-34 (Alshammari et al.); each shares
    the CE stage 1 of its recipes. Both encoders come first, so that two can train side by side."""
    pb = "recipes/cifar100_lt/paper_backbones"
    # Dang et al.'s CE figure is for the 0.46M ResNet-32: no paper number for these encoders
    papers = {k: v for k, v in dang(imbalance).items() if k != "ce"}
    x8, r34 = Block(C100, imbalance, X8, papers), Block(C100, imbalance, R34, papers)
    return [
        x8.row("ce", "CE (the encoder)", f"{pb}/iwb_cb.yaml", NO_STAGE2),
        r34.row("ce", "CE (the encoder)", f"{pb}/wd_maxnorm_cb.yaml", NO_STAGE2),
        x8.stage2("iwb_cb", "IWB+CB", f"{pb}/iwb_cb.yaml"),
        x8.stage2("iwb", "IWB", f"{pb}/iwb.yaml"),
        r34.stage2("wd_maxnorm_cb", "WD+MaxNorm+CB", f"{pb}/wd_maxnorm_cb.yaml"),
        r34.stage2("wd_maxnorm", "WD+MaxNorm", f"{pb}/wd_maxnorm.yaml"),
    ]


def resnet32_cifar100_rows(imbalance: int) -> List[Row]:
    """CIFAR-100-LT on He et al.'s 0.46M ResNet-32: every method; the decoupled ones on ce.yaml's encoder."""
    r, b = "recipes/cifar100_lt", Block(C100, imbalance, R32, dang(imbalance))
    iwb, iwb_cb, wmn_cb, ubr = (
        f"{r}/iwb.yaml",
        f"{r}/iwb_cb.yaml",
        f"{r}/wd_maxnorm_cb.yaml",
        "uniform_batch_reweighted",
    )
    return [
        b.row("ce", "CE", f"{r}/ce.yaml"),
        b.stage2("crt", "cRT", f"{r}/crt.yaml"),
        b.stage2("lws", "LWS", f"{r}/lws.yaml"),
        b.stage2("ncm", "NCM", f"{r}/ncm.yaml"),
        b.stage2("tau", "tau-norm", f"{r}/tau.yaml"),
        b.stage2("wd_maxnorm", "WD+MaxNorm", f"{r}/wd_maxnorm.yaml"),
        b.stage2("wd_maxnorm_cb", "WD+MaxNorm+CB", wmn_cb),
        b.stage2(
            "wd_maxnorm_cb_bce",
            "WD+MaxNorm+CB (authors' code: BCE, MaxNorm per epoch)",
            wmn_cb,
            CB_BCE,
            "wd_maxnorm_cb",
        ),
        b.stage2("iwb", "IWB", iwb),
        b.stage2("iwb_cb", "IWB+CB", iwb_cb),
        b.stage2("iwb_reference", "IWB (authors' code loss)", iwb, REFERENCE_IWB, "iwb"),
        b.stage2(
            "iwb_cb_reference", "IWB+CB (authors' code loss)", iwb_cb, REFERENCE_IWB, "iwb_cb"
        ),
        b.row("ldam_drw", "LDAM-DRW", f"{r}/ldam_drw.yaml"),
        b.row("focal", "Focal", f"{r}/focal.yaml"),
        b.row("class_balanced", "CB loss", f"{r}/class_balanced.yaml"),
        b.row("balanced_softmax", "Balanced softmax", f"{r}/balanced_softmax.yaml"),
        b.row("logit_adjusted", "Logit adjustment", f"{r}/logit_adjusted.yaml"),
        b.row(ubr, "Uniform mini-batch + re-weighting", f"{r}/{ubr}.yaml"),
    ] + (strongest_resnet32_rows() if imbalance == 100 else [])


# the ablation of the strongest ResNet-32 (CIFAR-100-LT IF 100), one line per step: (row name, what
# the step is, the head it scores: "stage1" or the deployed one); benchmarks/results/cifar100_lt/
# resnet32_ablation.md is drawn from these rows' records
ABLATION_BLOCK = (C100, 100, R32)
ABLATION = (
    ("ce", "CE (ce.yaml: batch 64, lr 0.01, weight decay 5e-3, cosine, 200 epochs)", "stage1"),
    ("bs", "balanced softmax, batch 128, lr 0.1, weight decay 5e-4, cosine, 200 epochs", "stage1"),
    ("bs_aa", "+ AutoAugment + Cutout", "stage1"),
    ("bs_aa_cutmix", "+ CutMix", "stage1"),
    ("bs_aa_cutmix", "+ the stage-2 method with the best validation top-1", "deploy"),
    ("bs_aa_cutmix_e220", "stage 1 for 220 epochs instead of 200", "stage1"),
    ("bs_aa_cutmix_e220", "+ the stage-2 method with the best validation top-1", "deploy"),
)


def strongest_resnet32_rows() -> List[Row]:
    """The strongest ResNet-32 recipe on CIFAR-100-LT IF 100 (``balanced_softmax_cutmix.yaml``:
    balanced softmax, AutoAugment + Cutout, CutMix, 200 epochs, then the stage-2 method chosen on
    the validation split), the same recipe with a 250-epoch stage 1, and its ablation: the recipe
    without CutMix, then without AutoAugment + Cutout as well. Each row trains its own stage 1."""
    recipe = "recipes/cifar100_lt/balanced_softmax_cutmix.yaml"
    b = Block(C100, 100, R32, {"bs_aa_cutmix": (52.0, "paco")})
    no_cutmix = ("stage1.cutmix=0",)
    return [
        b.row("bs_aa_cutmix", "Balanced softmax + AutoAugment + Cutout + CutMix", recipe),
        b.row(
            "bs_aa_cutmix_e220",
            "Balanced softmax + AutoAugment + Cutout + CutMix, 220 epochs",
            recipe,
            ("stage1.epochs=220",),
            compare="bs_aa_cutmix",
        ),
        b.row("bs_aa", "Balanced softmax + AutoAugment + Cutout", recipe, no_cutmix),
        b.row(
            "bs",
            "Balanced softmax (cosine, 200 ep)",
            recipe,
            no_cutmix + ("data.transform_kwargs={}",),
        ),  # fmt: skip
    ]


# the study's Table 2 (searched weight decay, epochs) and Table 5 (weight decay + tau-norm, top-1)
WD_TAU_STUDY = {
    ("exp", 100): ("4.7e-5", 90, 55.48),
    ("step", 100): ("2.88e-3", 200, 60.12),
    ("exp", 10): ("2.3e-5", 90, 74.95),
    ("step", 10): ("5.2e-5", 90, 73.89),
}
CIFAR10_PAPERS = {  # Cao et al., NeurIPS'19, Table 2; Lee, Sec. 5.2 (ResNet-18, CIFAR-10 exp)
    10: {"ce": (86.39, "cao"), "lws": (71.20, "lee"), "experts": (82.06, "lee")},
    100: {
        "ce": (70.36, "cao"),
        "ldam_drw": (77.03, "cao"),
        "lws": (51.28, "lee"),
        "experts": (61.10, "lee"),
    },
}
# the study's search: TPE between 1e-5 and 1e-1, 10 to 12 trials, scored on the 80/20 split
WD_SEARCH = (
    "--param",
    "stage1.weight_decay=loguniform:1e-5:1e-1",
    "--trials",
    "12",
    "--method",
    "tau",
    "--objective",
    "mean_per_class",
    "--study-name",
    "wd",
    "--seed",
    "0",
)


def cifar10_rows(imbalance: int) -> List[Row]:
    """CIFAR-10-LT, ResNet-32: Cao et al.'s CE (and the same with a cosine schedule), LDAM-DRW; the
    decoupled methods of the model table (cRT, LWS, NCM, tau-norm, WD+MaxNorm+CB, IWB+CB) and Lee's
    head/tail experts on the CE encoder; the weight-decay / tau-norm study on the exp and step
    profiles (and, at IF 100, its weight-decay search); Park, Piao and Kim's uniform mini-batch."""
    papers = dict(CIFAR10_PAPERS.get(imbalance, {}))
    for (profile, factor), (_, _, top1) in WD_TAU_STUDY.items():
        if factor == imbalance:
            papers[f"tau_{profile}"] = (top1, "wd_tau")
    papers["wd_search"] = papers.get("tau_exp")
    r, b = "recipes/cifar10_lt", Block(C10, imbalance, R32, {k: v for k, v in papers.items() if v})
    rows = []
    if imbalance in (100, 10):
        cosine = ("stage1.schedule=cosine", "stage1.milestones=[]")
        rows += [
            b.row("ce", "CE", f"{r}/ce.yaml"),
            b.row("ce_cosine", "CE, cosine schedule", f"{r}/ce.yaml", cosine),
        ]
    if imbalance == 100:
        rows.append(b.row("ldam_drw", "LDAM-DRW", f"{r}/ldam_drw.yaml"))
    if imbalance in (100, 10):
        rows += [
            b.stage2("crt", "cRT", f"{r}/crt.yaml"),
            # LWS with the experts recipe's stage 2 (Lee's optimiser, class-balanced sampling)
            b.stage2("lws", "LWS", f"{r}/experts.yaml", ("stage2.methods=[lws]",)),
            b.stage2("ncm", "NCM", f"{r}/ncm.yaml"),
            b.stage2("tau", "tau-norm", f"{r}/tau.yaml"),
            b.stage2("wd_maxnorm_cb", "WD+MaxNorm+CB", f"{r}/wd_maxnorm_cb.yaml"),
            b.stage2("iwb_cb", "IWB+CB", f"{r}/iwb_cb.yaml"),
        ]
        rows.append(
            b.stage2(
                "experts", "Head/tail experts", f"{r}/experts.yaml", ("stage2.methods=[experts]",)
            )
        )
        for profile in ("exp", "step"):
            wd, epochs, _ = WD_TAU_STUDY[(profile, imbalance)]
            study = (
                f"data.profile={profile}",
                f"stage1.weight_decay={wd}",
                f"stage1.epochs={epochs}",
            )
            rows.append(
                b.row(f"tau_{profile}", f"WD + tau-norm ({profile})", f"{r}/wd_tau.yaml", study)
            )
    if imbalance == 100:
        epochs = f"stage1.epochs={WD_TAU_STUDY[('exp', 100)][1]}"
        rows.append(
            b.row(
                "wd_search",
                "WD search (TPE) + tau-norm",
                f"{r}/wd_tau.yaml",
                (epochs,),
                tune=WD_SEARCH,
            )
        )
    ubr = "uniform_batch_reweighted"
    return rows + [b.row(ubr, "Uniform mini-batch + re-weighting", f"{r}/{ubr}.yaml")]


def build_plan() -> List[Row]:
    rows = paper_backbone_rows(100) + paper_backbone_rows(50)
    rows += resnet32_cifar100_rows(100) + resnet32_cifar100_rows(50) + resnet32_cifar100_rows(10)
    for imbalance in (100, 10, 50, 500):
        rows += cifar10_rows(imbalance)
    check_plan(rows)
    return rows


def check_plan(rows: List[Row]) -> None:
    """Ids are unique; every encoder a row names is a row of the plan, listed before it."""
    seen: Dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.id in seen:
            raise ValueError(f"plan: row {row.id} is listed twice")
        if row.needs is not None and row.needs not in seen:
            raise ValueError(
                f"plan: {row.id} needs the encoder {row.needs}, which is not listed before it"
            )
        seen[row.id] = i


PLAN = build_plan()
