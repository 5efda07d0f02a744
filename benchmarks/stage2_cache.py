"""Stage 2 from cached features vs running the frozen encoder every step (same head, same
schedule, no augmentation): wall time of each and the speed ratio, with the device.

  python benchmarks/stage2_cache.py --dataset cifar100_lt --root data/cifar100 --epochs 10
"""

import argparse
import time

import torch
from machine import describe_machine  # benchmarks/machine.py
from torch.utils.data import DataLoader

import ltzoo
from ltzoo.data import create_dataset
from ltzoo.data.transforms import create_transform
from ltzoo.heads import create_head
from ltzoo.train.features import extract_features


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", default="digits_lt")
    parser.add_argument("--root", default=None)
    parser.add_argument(
        "--transform", default=None, help="transform preset (default: the dataset's)"
    )
    parser.add_argument("--imbalance", type=float, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    probe = create_dataset(args.dataset, split="test", root=args.root, imbalance=args.imbalance)
    transform = create_transform(
        args.transform or probe.transform_preset, train=False, mean=probe.mean, std=probe.std
    )
    train = create_dataset(
        args.dataset, split="train", root=args.root, imbalance=args.imbalance, transform=transform
    )
    channels = train[0][0].shape[0]
    model = (
        ltzoo.create_model("resnet32_ce", num_classes=train.num_classes, in_chans=channels)
        .to(device)
        .eval()
    )
    print(
        f"device: {describe_machine(device.type)}; "
        f"{args.dataset}: {len(train)} images, {args.epochs} epochs, batch {args.batch_size}"
    )

    def fit(batches):
        torch.manual_seed(0)
        head = create_head("linear", model.num_features, train.num_classes).to(device)
        optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9)
        for _ in range(args.epochs):
            for features, labels in batches():
                loss = torch.nn.functional.cross_entropy(head(features), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        return head

    loader = DataLoader(
        train, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )

    def encoder_batches():
        for images, labels in loader:
            with torch.no_grad():
                features = model.forward_head(
                    model.forward_features(images.to(device)), pre_logits=True
                )
            yield features, labels.to(device)  # outside no_grad: the head's step needs gradients

    _sync(device)
    start = time.perf_counter()
    fit(encoder_batches)
    _sync(device)
    live = time.perf_counter() - start

    start = time.perf_counter()
    cached = extract_features(model, train, batch_size=512)
    feats, labels = cached.features.to(device), cached.labels.to(device)

    def cached_batches():
        order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0)).to(device)
        for idx in order.split(args.batch_size):
            yield feats[idx], labels[idx]

    fit(cached_batches)
    _sync(device)
    cache = time.perf_counter() - start
    print(
        f"encoder every step: {live:8.2f} s | cached features (extraction included): {cache:8.2f} s | "
        f"speed-up {live / cache:.1f}x"
    )


if __name__ == "__main__":
    main()
