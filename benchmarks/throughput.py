"""Stage-1 training throughput on CIFAR-100-LT, ResNet-32: ltzoo's fast path vs the reference
style vs no data pipeline at all. Prints img/s for each and the ratios, with the device.

  (a) ltzoo: uint8 training set on the device, batches gathered by sampler indices and
      augmented there (pad-crop, flip), channels-last, bf16 autocast (CPUs with AVX512-BF16 or
      AMX run it too), fused SGD on CUDA, optionally torch.compile (--compile; --compile-mode
      reduce-overhead for CUDA graphs); (a32) the same in fp32, which is what
      ``mixed_precision: 'no'`` trains with;
  (b) reference: what the public long-tail codebases do: a PIL dataset with torchvision
      transforms, a DataLoader with worker processes, fp32;
  (c) upper bound: random tensors already on the device, same model and optimizer as (a).

  python benchmarks/throughput.py --root data/cifar100 --batch-sizes 64 512 --steps 200

``--root`` (default ``data/cifar100``) follows ``LTZOO_DATA_ROOT`` like a recipe's root.

Targets (one H100): a/b >= 10 and a/c >= 0.9.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from machine import describe_machine  # benchmarks/machine.py
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms as T

import ltzoo
from ltzoo.data import create_dataset
from ltzoo.data.device_loader import DeviceBatchLoader
from ltzoo.data.samplers import create_sampler


class PILDataset(Dataset):
    """CIFAR as the reference codebases read it: one PIL image per item, torchvision transforms."""

    def __init__(self, data, targets, mean, std):
        self.data, self.targets = data, targets
        self.transform = T.Compose(
            [
                T.RandomCrop(32, padding=4),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize(mean, std),
            ]
        )

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.data[i])), int(self.targets[i])


def _model(device, fast):
    model = ltzoo.create_model("resnet32_ce", num_classes=100).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    fused = fast and device.type == "cuda"
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-3, fused=fused or None
    )
    return model, optimizer


def _time(step, batches, steps, warmup, device):
    it = iter(batches)
    for _ in range(warmup):
        step(*next(it))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    seen = 0
    for _ in range(steps):
        x, y = next(it)
        step(x, y)
        seen += len(y)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - start)


def _forever(make_epoch):
    epoch = 0
    while True:
        yield from make_epoch(epoch)
        epoch += 1


def run(args):
    device = torch.device(
        args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    )
    train = create_dataset("cifar100_lt", split="train", root=args.root, imbalance=100)
    print(
        f"device: {describe_machine(device.type)} ({device}); {len(train)} training images",
        flush=True,
    )

    def make_step(model, optimizer, fast, bf16=True):
        def step(x, y):
            if args.compile:
                torch.compiler.cudagraph_mark_step_begin()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if fast:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast and bf16):
                loss = torch.nn.functional.cross_entropy(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    for batch in args.batch_sizes:
        figures = {}
        model, optimizer = _model(device, fast=True)
        forward = torch.compile(model, mode=args.compile_mode) if args.compile else model
        sampler = create_sampler("instance_balanced", train.targets, seed=0)
        loader = DeviceBatchLoader(
            train.data,
            train.targets,
            sampler,
            batch,
            device,
            train.mean,
            train.std,
            pad=4,
            flip=True,
        )

        def fast_epoch(epoch, loader=loader):
            loader.set_epoch(epoch)
            return loader.iterate()

        figures["a"] = _time(
            make_step(forward, optimizer, True),
            _forever(fast_epoch),
            args.steps,
            args.warmup,
            device,
        )
        model, optimizer = _model(device, fast=True)
        forward = torch.compile(model, mode=args.compile_mode) if args.compile else model
        figures["a32"] = _time(
            make_step(forward, optimizer, True, bf16=False),
            _forever(fast_epoch),
            args.steps,
            args.warmup,
            device,
        )

        model, optimizer = _model(device, fast=False)
        reference = DataLoader(
            PILDataset(train.data, train.targets, train.mean, train.std),
            batch_size=batch,
            shuffle=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            drop_last=True,
            persistent_workers=args.workers > 0,
        )
        figures["b"] = _time(
            make_step(model, optimizer, False),
            _forever(lambda e: iter(reference)),
            args.steps,
            args.warmup,
            device,
        )

        model, optimizer = _model(device, fast=True)
        forward = torch.compile(model, mode=args.compile_mode) if args.compile else model
        x = torch.randn(batch, 3, 32, 32, device=device)
        y = torch.randint(0, 100, (batch,), device=device)
        figures["c"] = _time(
            make_step(forward, optimizer, True),
            _forever(lambda e: iter([(x, y)] * 1000)),
            args.steps,
            args.warmup,
            device,
        )

        print(
            f"batch {batch:4d}: (a) ltzoo fast path bf16 {figures['a']:10.0f} img/s | "
            f"(a32) fp32 {figures['a32']:10.0f} "
            f"img/s | (b) reference PIL+DataLoader "
            f"{figures['b']:10.0f} img/s | (c) tensors on device {figures['c']:10.0f} img/s | "
            f"a/b = {figures['a'] / figures['b']:.2f}x, a/c = {figures['a'] / figures['c']:.2f}, "
            f"a/a32 = {figures['a'] / figures['a32']:.2f}x"
        )


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", default="data/cifar100")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
        help="torch.compile mode with --compile; reduce-overhead = CUDA graphs",
    )
    run(parser.parse_args())


if __name__ == "__main__":
    np.random.seed(0)
    main()
