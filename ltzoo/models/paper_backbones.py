"""The networks the weight-balancing papers' code really trained on CIFAR-100-LT.

Both papers write "ResNet-32", but neither public code trains He et al.'s 0.46M CIFAR ResNet-32
(``resnet32`` in this zoo, the backbone of Cao et al. NeurIPS'19 LDAM-DRW and Menon et al. ICLR'21
logit adjustment):

* ``resnet34_cifar``: Alshammari, Wang, Ramanan and Kong, "Long-Tailed Recognition via Weight
  Balancing", CVPR'22, repository ShadeAlsha/LTR-weight-balancing, ``utils/network_arch_resnet.py``
  (``ResnetEncoder(34, embDimension=100, poolSize=4)``, used by ``demo1_first-stage-training``):
  torchvision's ResNet-34 with its 7x7 stride-2 stem conv replaced by a 3x3 stride-1 one and the
  max-pool skipped, 512-d pooled features, a biased linear classifier. 21,328,292 parameters at
  100 classes. Built here from timm's ``ResNet`` and ``BasicBlock`` (the same blocks, parameter
  names and shapes as torchvision's); the reference pools with ``avg_pool2d(x, 4)``, which is the
  global average at 32x32 inputs, the only size it is used at.
* ``resnet32_x8``: Dang, Yang, Dong, Li and Shi, "Inverse Weight-Balancing for Deep Long-Tailed
  Learning", AAAI'24, repository qiqiglich/IWB-torch, ``utils/resnet_cifar.py`` (``ResNet_s`` with
  ``factor = 8``, used by ``first-stage-training.py``): the CIFAR ResNet-32 (5 blocks per stage,
  option-A zero-pad shortcuts) with every width multiplied by 8, stages of 128/256/512 channels,
  512-d pooled features, a biased linear classifier. 29,564,132 parameters at 100 classes.
"""

from typing import Any

import torch.nn as nn
from timm.models.resnet import BasicBlock, ResNet

from ltzoo.models.cifar_resnet import CifarResNet


def resnet34_cifar(
    num_classes: int = 0, in_chans: int = 3, global_pool: str = "avg", **kwargs: Any
) -> ResNet:
    """timm's ResNet-34 with a CIFAR stem: 3x3 stride-1 conv, no max-pool (Alshammari et al., CVPR'22 code)."""
    # zero_init_last=False: torchvision's default init (BN gammas at 1), which the reference builds on
    model = ResNet(
        BasicBlock,
        (3, 4, 6, 3),
        num_classes=num_classes,
        in_chans=in_chans,
        global_pool=global_pool,
        zero_init_last=False,
        **kwargs,
    )
    # the reference swaps the stem conv after torchvision's init, so it keeps PyTorch's default init
    model.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    for info, reduction in zip(model.feature_info, (1, 1, 2, 4, 8)):
        info["reduction"] = reduction
    return model


def resnet32_x8(
    num_classes: int = 0, in_chans: int = 3, global_pool: str = "avg", **kwargs: Any
) -> CifarResNet:
    """The CIFAR ResNet-32 at 8x width, stages of 128/256/512 channels (Dang et al., AAAI'24 code)."""
    return CifarResNet(
        depth=32,
        num_classes=num_classes,
        in_chans=in_chans,
        widths=(128, 256, 512),
        global_pool=global_pool,
        **kwargs,
    )


PAPER_BACKBONES = {"resnet34_cifar": resnet34_cifar, "resnet32_x8": resnet32_x8}
