"""torch.hub entrypoints: explicit re-exports of ltzoo's registered models.

    model = torch.hub.load("<owner>/<repo>", "resnet32_iwb", num_classes=100)

Each entrypoint takes ``pretrained=False`` and the model's keyword arguments, exactly as
``ltzoo.create_model`` does; a test checks this list equals ``ltzoo.list_models()``.
"""

dependencies = ["torch", "torchvision", "timm", "safetensors", "huggingface_hub"]

from ltzoo.models.zoo import (  # noqa: E402,F401
    lt_classifier,
    resnet32_ce,
    resnet32_crt,
    resnet32_iwb,
    resnet32_las,
    resnet32_lws,
    resnet32_ncm,
    resnet32_tau,
    resnet32_wd_maxnorm,
    resnet32_x8_ce,
    resnet32_x8_crt,
    resnet32_x8_iwb,
    resnet32_x8_las,
    resnet32_x8_lws,
    resnet32_x8_ncm,
    resnet32_x8_tau,
    resnet32_x8_wd_maxnorm,
    resnet34_cifar_ce,
    resnet34_cifar_crt,
    resnet34_cifar_iwb,
    resnet34_cifar_las,
    resnet34_cifar_lws,
    resnet34_cifar_ncm,
    resnet34_cifar_tau,
    resnet34_cifar_wd_maxnorm,
    resnet50_ce,
    resnet50_crt,
    resnet50_iwb,
    resnet50_las,
    resnet50_lws,
    resnet50_ncm,
    resnet50_tau,
    resnet50_wd_maxnorm,
    resnext50_32x4d_ce,
    resnext50_32x4d_crt,
    resnext50_32x4d_iwb,
    resnext50_32x4d_las,
    resnext50_32x4d_lws,
    resnext50_32x4d_ncm,
    resnext50_32x4d_tau,
    resnext50_32x4d_wd_maxnorm,
)
