"""`ltzoo eval` of a run whose stage 2 re-trained encoder layers: each head is re-scored with
the encoder it was trained with, and the numbers equal the run's own."""

import json

from ltzoo.train.config import load_config
from ltzoo.train.reload import encoder_file, evaluate_run
from ltzoo.train.run import run


def test_eval_uses_each_methods_own_encoder(tmp_path):
    out = tmp_path / "run"
    run(
        load_config(
            overrides=[
                f"output_dir={out}",
                "progress=false",
                "stage1.epochs=3",
                "stage2.epochs=2",
                "stage2.retrain=last_block",
                "stage2.methods=[crt, tau]",
                "stage2.deploy=tau",
            ]
        )
    )
    saved = json.loads((out / "results.json").read_text())["methods"]
    assert encoder_file(out, "crt").name == "crt.encoder.safetensors"
    assert encoder_file(out, "stage1").name == "shared.encoder.safetensors"
    again, _ = evaluate_run(out)
    for method in ("stage1", "crt", "tau"):
        assert again[method]["per_class_accuracy"] == saved[method]["per_class_accuracy"], method
    # crt's re-trained encoder is not stage 1's: scoring its head on stage 1 features would differ
    assert saved["crt"].get("retrain") == "last_block"
