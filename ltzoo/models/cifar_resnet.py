"""ResNet for 32x32 inputs (He et al., "Deep Residual Learning for Image Recognition", CVPR'16, Sec. 4.2).

The CIFAR ResNet-6n+2: a 3x3 16-channel stem, three stages of ``n`` basic blocks at 16, 32 and
64 channels (stride 1, 2, 2) and a parameter-free "option A" shortcut (stride-2 subsampling
plus zero-padded channels) where the shape changes. ResNet-32 (n = 5) is the backbone of every
CIFAR-LT table in the long-tail literature: 464,154 parameters with 10 classes, 470,004 with
100. timm has no such model and its ``ResNet`` cannot express one (fixed 64-channel stem, four
stages), so this module builds it in timm's style from ``timm.models.resnet.BasicBlock``.
"""

from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import SelectAdaptivePool2d
from timm.models import checkpoint_seq
from timm.models.resnet import BasicBlock

from ltzoo.models.contract import IndicesT, take_indices


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample spatially by ``stride`` and zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad[0], self.pad[1]))


def _stage(in_channels: int, channels: int, blocks: int, stride: int) -> nn.Sequential:
    layers = []
    for i in range(blocks):
        block_in = in_channels if i == 0 else channels
        block_stride = stride if i == 0 else 1
        shortcut = None
        if block_stride != 1 or block_in != channels:
            shortcut = ZeroPadShortcut(block_in, channels, block_stride)
        layers.append(BasicBlock(block_in, channels, stride=block_stride, downsample=shortcut))
    return nn.Sequential(*layers)


def _global_pool(pool_type: str) -> SelectAdaptivePool2d:
    # timm's rule: no pooling ('') passes the 4-D map through unflattened
    return SelectAdaptivePool2d(pool_type=pool_type, flatten=bool(pool_type))


class CifarResNet(nn.Module):
    """CIFAR ResNet with timm's model contract: ``forward_features`` / ``forward_head``,
    ``forward_intermediates`` over four feature levels (stem, ``layer1..3``), gradient checkpointing."""

    def __init__(
        self,
        depth: int = 32,
        num_classes: int = 100,
        in_chans: int = 3,
        widths: Sequence[int] = (16, 32, 64),
        global_pool: str = "avg",
        drop_rate: float = 0.0,
    ):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(
                f"depth={depth} is not a CIFAR ResNet depth; allowed: 6n+2 (20, 32, 44, 56, 110)"
            )
        blocks = (depth - 2) // 6
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.grad_checkpointing = False
        self.conv1 = nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act1 = nn.ReLU(inplace=True)
        self.layer1 = _stage(widths[0], widths[0], blocks, stride=1)
        self.layer2 = _stage(widths[0], widths[1], blocks, stride=2)
        self.layer3 = _stage(widths[1], widths[2], blocks, stride=2)
        self.num_features = self.head_hidden_size = widths[2]
        # level 0 is the stem, as in timm's ResNet; the stages follow at strides 1, 2, 4
        self.feature_info = [dict(num_chs=widths[0], reduction=1, module="act1")] + [
            dict(num_chs=w, reduction=r, module=f"layer{i + 1}")
            for i, (w, r) in enumerate(zip(widths, (1, 2, 4)))
        ]
        self.global_pool = _global_pool(global_pool)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @torch.jit.ignore
    def group_matcher(self, coarse: bool = False) -> Dict[str, str]:
        return dict(
            stem=r"^(?:conv1|bn1)", blocks=r"^layer(\d+)" if coarse else r"^layer(\d+)\.(\d+)"
        )

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        return set()

    @torch.jit.ignore
    def get_classifier(self, name_only: bool = False) -> Union[str, nn.Module]:
        return "fc" if name_only else self.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = _global_pool(global_pool)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.act1(self.bn1(self.conv1(x)))

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: IndicesT = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """The final map and the maps of feature levels ``indices`` (timm's signature; ``norm`` has
        nothing to apply, the network ends in a block)."""
        if output_fmt != "NCHW":
            raise ValueError(f"output_fmt={output_fmt!r} is not allowed; allowed: 'NCHW'")
        taken, last = take_indices(len(self.feature_info), indices)
        intermediates = []
        x = self._stem(x)
        if 0 in taken:
            intermediates.append(x)
        stages = [self.layer1, self.layer2, self.layer3]
        for level, stage in enumerate(stages[:last] if stop_early else stages, start=1):
            x = checkpoint_seq(stage, x) if self.grad_checkpointing else stage(x)
            if level in taken:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return x, intermediates

    def prune_intermediate_layers(
        self, indices: IndicesT = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> List[int]:
        """Drop the stages after the deepest level in ``indices`` (and the head); the levels kept."""
        taken, last = take_indices(len(self.feature_info), indices)
        for name in ("layer1", "layer2", "layer3")[last:]:
            # empty, not Identity, so that checkpoint_seq can still iterate it
            setattr(self, name, nn.Sequential())
        if prune_head:
            self.reset_classifier(0, "")
        return taken

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self._stem(x)
        if self.grad_checkpointing and not torch.jit.is_scripting():
            return checkpoint_seq([self.layer1, self.layer2, self.layer3], x, flatten=True)
        return self.layer3(self.layer2(self.layer1(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))
