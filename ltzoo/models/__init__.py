"""Backbones, the backbone + head classifier, and the registered zoo entrypoints."""

from ltzoo.models.cifar_resnet import CifarResNet
from ltzoo.models.lt_classifier import LongTailClassifier, create_backbone
from ltzoo.models.zoo import MODEL_NAMES, ZOO_BACKBONES, create_lt_model

__all__ = [
    "CifarResNet",
    "LongTailClassifier",
    "create_backbone",
    "MODEL_NAMES",
    "ZOO_BACKBONES",
    "create_lt_model",
]
