"""Per-dataset channel means and standard deviations (of the training images, in [0, 1]), as data.

CIFAR and Fashion-MNIST from their full official training sets; ImageNet the usual torchvision
values; iNaturalist 2018 those of Decoupling (Kang et al. ICLR'20); digits computed here from
scikit-learn's 1,797 images scaled to 0..255.
"""

MEAN_STD = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "inat2018": ((0.466, 0.471, 0.380), (0.195, 0.194, 0.192)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "digits": ((0.3053,), (0.3759,)),
}
