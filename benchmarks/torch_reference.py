"""The same training step in plain PyTorch: the reference a user would otherwise write.

    pip install torch==2.13.0   # optional; a CPU build
    python benchmarks/torch_reference.py --integrator imex --width 16 --steps 8 --batch 8 --size 64 --json

An opening 3x3 convolution 1 -> W with instance norm and ReLU, N steps of
Y <- Y - h K^T relu(N(K Y)) (instance norm; for imex each step followed by the solve
(I + h C^T C)^{-1} with its own depthwise 3x3 kernel, by torch.fft), a 1x1 head to 4 classes,
cross entropy and one Adam update, as `benchmarks/train_step.py --norm instance --imex-form code
--no-zero-mean` times in imexjax. Runs on the GPU where torch sees one (`--device`); every step
ends in `loss.item()`, which waits for the device.
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


class Step(torch.nn.Module):
    def __init__(self, width: int, imex: bool):
        super().__init__()
        self.kernel = torch.nn.Parameter(torch.randn(width, width, 3, 3) / (3 * width**0.5))
        self.norm = torch.nn.InstanceNorm2d(width, affine=True)
        self.implicit = torch.nn.Parameter(torch.randn(width, 3, 3)) if imex else None

    def forward(self, y: torch.Tensor, h: float) -> torch.Tensor:
        z = torch.relu(self.norm(F.conv2d(y, self.kernel, padding=1)))
        y = y - h * F.conv_transpose2d(z, self.kernel, padding=1)
        if self.implicit is None:
            return y
        height, width = y.shape[-2:]
        grid = torch.zeros(y.shape[1], height, width, dtype=y.dtype, device=y.device)
        grid[:, :3, :3] = self.implicit
        grid = torch.roll(grid, shifts=(-1, -1), dims=(-2, -1))
        power = torch.fft.rfft2(grid).abs() ** 2
        return torch.fft.irfft2(torch.fft.rfft2(y) / (1 + h * power), s=(height, width))


class Network(torch.nn.Module):
    def __init__(self, width: int, steps: int, imex: bool):
        super().__init__()
        self.opening = torch.nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.opening_norm = torch.nn.InstanceNorm2d(width, affine=True)
        self.steps = torch.nn.ModuleList(Step(width, imex) for _ in range(steps))
        self.head = torch.nn.Conv2d(width, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.opening_norm(self.opening(x)))
        for step in self.steps:
            y = step(y, 1.0)
        return self.head(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--integrator", default="imex", choices=("euler", "imex"))
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: cuda where torch sees a GPU"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    model = Network(args.width, args.steps, args.integrator == "imex").to(args.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(args.batch, 1, args.size, args.size, device=args.device)
    labels = torch.randint(0, 4, (args.batch, args.size, args.size), device=args.device)

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss.item()

    step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    forward_times = []
    with torch.no_grad():
        model(images)
        for _ in range(args.repeats):
            start = time.perf_counter()
            F.cross_entropy(model(images), labels).item()
            forward_times.append(time.perf_counter() - start)
    result = {
        **{k: v for k, v in vars(args).items() if k != "json"},
        "step_ms": 1e3 * statistics.median(times),
        "fwd_ms": 1e3 * statistics.median(forward_times),
        "threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }
    print(json.dumps(result) if args.json else f"torch {args.integrator}: step {result['step_ms']:.1f} ms")


if __name__ == "__main__":
    main()
