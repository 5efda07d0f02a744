"""Stage 2 on images with part of the encoder re-trained (Kang et al. ICLR'20, Table 1)."""

import json

import numpy as np
import pytest
import torch

import ltzoo
from ltzoo.heads import create_head
from ltzoo.losses import create_loss
from ltzoo.train.config import ConfigError, Stage2Config, load_config
from ltzoo.train.features import extract_features
from ltzoo.train.head_training import train_head
from ltzoo.train.image_training import ImageSource, encoder_modules, uses_images


class Images(torch.utils.data.Dataset):
    def __init__(self, n=48, classes=3, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.targets = [i % classes for i in range(n)]
        self.x = (
            torch.randn(n, 1, 8, 8, generator=gen)
            + torch.tensor(self.targets).view(-1, 1, 1, 1).float()
        )

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.x[i], self.targets[i]


def _model():
    torch.manual_seed(0)
    return ltzoo.create_model(
        "lt_classifier", backbone="resnet20", num_classes=3, in_chans=1
    ).eval()


def _fit(model, retrain, epochs=1, **kwargs):
    source = ImageSource(model, Images(), retrain, **kwargs)
    head = create_head("linear", model.num_features, 3)
    head.load_linear(model.head.fc.weight, model.head.fc.bias)
    head = train_head(
        head,
        head.parameters(),
        source,
        create_loss("ce"),
        sampler="class_balanced",
        epochs=epochs,
        batch_size=16,
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        seed=0,
    )
    return source.trained_model, head


def _changed(before, after):
    """Names of the state entries (parameters and buffers) that differ."""
    return {k for k, v in before.items() if not torch.equal(v, after[k])}


def test_classifier_leaves_the_encoder_bitwise_untouched():
    model = _model()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    trained, head = _fit(model, "classifier")
    assert not _changed(before, trained.backbone.state_dict())  # weights and batch-norm statistics
    assert not _changed(before, model.backbone.state_dict())  # the stage-1 model is never modified
    assert not torch.equal(head.fc.weight, model.head.fc.weight)


def test_last_block_changes_only_the_last_stage_and_the_head():
    model = _model()
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    trained, head = _fit(model, "last_block")
    changed = _changed(before, trained.backbone.state_dict())
    last_stage = {k for k in before if k.startswith("layer3.")}
    assert changed and changed <= last_stage
    assert {
        k for k, _ in trained.backbone.named_parameters()
    } & last_stage <= changed  # every last-stage weight moved
    assert not torch.equal(head.fc.weight, model.head.fc.weight)


def test_all_changes_every_encoder_parameter():
    model = _model()
    before = {k: v.clone() for k, v in model.backbone.named_parameters()}
    trained, _ = _fit(model, "all")
    assert _changed(before, dict(trained.backbone.named_parameters())) == set(before)


def test_encoder_lr_scale_zero_keeps_the_weights():
    model = _model()
    before = {k: v.clone() for k, v in model.backbone.named_parameters()}
    trained, _ = _fit(model, "all", encoder_lr_scale=0.0)
    assert not _changed(before, dict(trained.backbone.named_parameters()))


def test_on_images_without_augmentation_matches_the_cached_features_path():
    model = _model()
    _, on_images = _fit(model, "classifier", epochs=2)
    cached = extract_features(model, Images())
    head = create_head("linear", model.num_features, 3)
    head.load_linear(model.head.fc.weight, model.head.fc.bias)
    head = train_head(
        head,
        head.parameters(),
        cached,
        create_loss("ce"),
        sampler="class_balanced",
        epochs=2,
        batch_size=16,
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        seed=0,
    )
    assert torch.allclose(on_images.fc.weight, head.fc.weight, atol=1e-5)


def test_last_block_of_a_timm_backbone_is_its_last_stage():
    backbone = ltzoo.models.lt_classifier.create_backbone("resnet18")
    modules = encoder_modules(backbone, "last_block")
    assert modules[0] is backbone.layer4
    with pytest.raises(ValueError, match="retrain='everything' is not allowed"):
        encoder_modules(backbone, "everything")
    with pytest.raises(ValueError, match="needs a backbone that names its stages"):
        encoder_modules(torch.nn.Linear(2, 2), "last_block")


def test_config_fields():
    assert not uses_images(Stage2Config()) and uses_images(Stage2Config(augment=True))
    assert uses_images(Stage2Config(retrain="last_block"))
    with pytest.raises(
        ConfigError,
        match="stage2.retrain='backbone' is not allowed: input should be 'classifier', 'last_block' or 'all'",
    ):
        load_config(None, ["stage2.retrain=backbone"])


def test_run_with_last_block_evaluates_and_deploys_the_methods_own_encoder(tmp_path, monkeypatch):
    import ltzoo.train.stage2
    from ltzoo.evaluation import evaluate_logits
    from ltzoo.hub import load_pretrained
    from ltzoo.train.assemble import build_datasets
    from ltzoo.train.features import predict_logits
    from ltzoo.train.run import run

    resolved = []  # each method's settings are resolved once, before any training
    real = ltzoo.train.stage2.resolve
    monkeypatch.setattr(
        ltzoo.train.stage2, "resolve", lambda name, s2: resolved.append(name) or real(name, s2)
    )

    cfg = load_config(
        None,
        [
            "progress=false",
            f"output_dir={tmp_path}",
            "stage1.epochs=1",
            "stage2.epochs=1",
            "stage2.methods=[tau, crt]",
            "stage2.retrain=last_block",
        ],
    )
    results = run(cfg)
    assert resolved == ["tau", "crt"]
    assert (
        results["methods"]["crt"]["retrain"] == "last_block"
        and "retrain" not in results["methods"]["tau"]
    )
    assert (tmp_path / "heads" / "crt.encoder.safetensors").is_file()
    assert not (
        tmp_path / "heads" / "tau.encoder.safetensors"
    ).exists()  # tau trains nothing: shared encoder
    model = load_pretrained(tmp_path).eval()
    test = build_datasets(cfg)["test"]
    logits, targets = predict_logits(model, test)
    again = evaluate_logits(logits, targets, results["class_counts"])
    assert again["top1"] == pytest.approx(results["methods"]["crt"]["top1"])
    assert json.loads((tmp_path / "config.json").read_text())["ltzoo"]["deployed_method"] == "crt"
    assert np.isfinite(results["validation"]["crt"]["top1"])
