"""JPEG input pipeline throughput: PIL in DataLoader worker processes vs. batched device decode.

Writes ``--num-images`` random-content JPEGs of ImageNet's typical size (500x375, quality 90)
to a temporary folder (or uses / fills ``--folder``), then times the training transform of the
``imagenet`` preset (random resized crop 224 + flip + colour jitter 0.4, normalised) two ways:

  (a) torch DataLoader, ``--workers`` worker processes, PIL decode + timm transform per image;
  (b) ltzoo.data.jpeg_loader.JpegBatchLoader on ``--device``: file reads in threads, one
      TorchCodec ``decode_jpeg`` call per batch (nvjpeg on CUDA), augmentation on the device.

Each path is run once to warm up (on a subset) and then timed over ``--epochs`` full passes;
the batches are consumed on the device (moved there and synchronised), as a training step
would. Usage:

  python benchmarks/jpeg_decode.py --num-images 2000 --workers 8 [--device cuda]

On --device cpu (b) is one process: it measures the code path, not the GPU's gain.
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import describe_machine  # noqa: E402  (benchmarks/machine.py)

from ltzoo.data.jpeg_loader import JpegBatchLoader  # noqa: E402
from ltzoo.data.samplers import create_sampler  # noqa: E402
from ltzoo.data.stats import MEAN_STD  # noqa: E402
from ltzoo.data.transforms import create_transform  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning, module="torchvision")


def make_jpegs(folder: Path, n: int, width: int, height: int, quality: int, seed: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = []
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(n):
        path = folder / f"img{i:06d}.jpg"
        if not path.exists():
            # low-frequency colour fields plus noise: closer to photo file sizes than pure noise
            phase = rng.uniform(0, 2 * np.pi, 3)
            freq = rng.uniform(0.005, 0.05, 3)
            base = np.stack(
                [127 + 100 * np.sin(freq[c] * (xx + (c + 1) * yy) + phase[c]) for c in range(3)], -1
            )
            img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(path, quality=quality)
        samples.append((str(path), i % 10))
    return samples


class PilDataset(torch.utils.data.Dataset):
    def __init__(self, samples, transform):
        self.samples, self.transform = samples, transform

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        path, label = self.samples[i]
        with Image.open(path) as img:
            return self.transform(img.convert("RGB")), label


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_passes(make_iter, device, epochs):
    n, start = 0, time.perf_counter()
    for _ in range(epochs):
        for images, labels in make_iter():
            images = images.to(device, non_blocking=True)
            n += images.shape[0]
        sync(device)
    return n / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--num-images", type=int, default=2000)
    parser.add_argument(
        "--folder", default=None, help="use/fill this folder instead of a temporary one"
    )
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--workers", type=int, default=8, help="DataLoader worker processes for the PIL path"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="file-reading threads of JpegBatchLoader"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the main process (matters for --device cpu: on a "
        "small, shared machine 1 can beat the default; DataLoader workers use 1)",
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    mean, std = MEAN_STD["imagenet"]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else Path(tmp)
        t0 = time.perf_counter()
        samples = make_jpegs(folder, args.num_images, args.width, args.height, args.quality)
        mb = sum(os.path.getsize(p) for p, _ in samples) / 2**20
        print(
            f"{len(samples)} JPEGs {args.width}x{args.height} q{args.quality} ({mb:.1f} MiB) in {folder} "
            f"[{time.perf_counter() - t0:.1f} s]",
            flush=True,
        )

        transform = create_transform(
            "imagenet", train=True, mean=mean, std=std, img_size=args.img_size
        )
        pil_loader = torch.utils.data.DataLoader(
            PilDataset(samples, transform),
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=args.workers > 0,
            drop_last=False,
        )
        warm = PilDataset(samples[: args.batch_size], transform)
        for _ in torch.utils.data.DataLoader(warm, batch_size=args.batch_size, num_workers=0):
            pass
        pil_rate = time_passes(lambda loader=pil_loader: loader, device, args.epochs)
        print(f"(a) PIL + DataLoader, {args.workers} workers: {pil_rate:8.1f} img/s", flush=True)
        del pil_loader

        sampler = create_sampler("instance_balanced", [label for _, label in samples], seed=0)
        jpeg_loader = JpegBatchLoader(
            samples,
            sampler,
            args.batch_size,
            device,
            mean,
            std,
            train=True,
            img_size=args.img_size,
            num_threads=args.threads,
        )
        warm_loader = JpegBatchLoader(
            samples[: args.batch_size],
            create_sampler(
                "instance_balanced", [label for _, label in samples[: args.batch_size]], seed=0
            ),
            args.batch_size,
            device,
            mean,
            std,
            train=True,
            img_size=args.img_size,
            num_threads=args.threads,
        )
        for _ in warm_loader:  # nvjpeg handles and CUDA kernels initialised outside the timing
            pass
        sync(device)
        warm_loader.close()

        def epochs():
            jpeg_loader.set_epoch(jpeg_loader.epoch + 1)
            return jpeg_loader

        dev_rate = time_passes(epochs, device, args.epochs)
        jpeg_loader.close()
        print(
            f"(b) JpegBatchLoader on {device.type}, {jpeg_loader.num_threads} read threads: {dev_rate:8.1f} img/s"
        )

    print(f"ratio (b)/(a): {dev_rate / pil_rate:.2f}x")
    print(
        f"device: {describe_machine(device.type)}; batch {args.batch_size}; img_size {args.img_size}; "
        f"epochs {args.epochs}"
    )


if __name__ == "__main__":
    main()
