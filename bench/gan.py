"""GAN speed: training steps per second of each model, and the time to generate 10,000 samples.

Fixed configuration per model: the ``model_config`` of ``recipes/gan-<model>-mnist5k.yaml`` (28 px,
grey, 10 classes) at batch 64 on ``builtin:mnist5k@train`` digits. One training step is what
:func:`traingen.gan.trainer.train` does per generator step with ``d_steps: 1``: ``model.d_loss``,
backward, D's Adam step, ``model.g_loss`` (with the real batch for feature matching), backward, G's
Adam step, ``model.after_step()`` and the EMA update of G. Generation: 10,000 samples from G in
evaluation mode, batch 500, under ``torch.no_grad()``, converted to uint8.

Reference column (``--reference PATH``): a checkout of ajbrock/BigGAN-PyTorch (the authors'
reference BigGAN code; bring it with ``git clone``, never commit it). Its ``BigGAN.Generator`` /
``Discriminator`` have no 28 px architecture and make RGB images, so the comparison is at 32 px RGB,
batch 64: theirs with ``G_ch = D_ch = ch``, ``hier=True``, shared embedding, attention at 8x8, hinge
loss and their own Adam optimizers, one D step and one G step as in their ``train_fns.py`` (their
orthogonal regularisation adds ``beta * 2 (W W^T * (1 - I)) W`` to the gradients; done here with the
same formula; no EMA on either side); ours is ``biggan`` with the same ``ch``, ``z_dim``,
``shared_dim``, attention and loss at 32 px RGB. The widths of the two differ (theirs keep ``4 ch``
at every 32 px stage, ours halve towards the image), so the parameter counts are printed beside the
times. Without ``--reference`` (or when the folder has no ``BigGAN.py``) the column is skipped with a note.

One thread (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``). Times are CPU seconds of this
process (``time.process_time``: waiting for a shared core is not charged) and wall seconds, median of
repeats; ``os.getloadavg()`` is recorded.

Usage:
    OMP_NUM_THREADS=1 python bench/gan.py [--repeats 5] [--steps 10] [--quick] [--reference PATH]
        [--models cdcgan,sagan,biggan] [--out bench/RESULTS.md | --no-write]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from traingen.gan.ema import EMA  # noqa: E402
from traingen.gan.train_config import TrainConfig, build_model, load_train_config, resolved  # noqa: E402
from traingen.gan.trainer import load_real_data, to_uint8  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("cdcgan", "sagan", "biggan")
BATCH = 64
GEN_N, GEN_BATCH = 10_000, 500


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (CPU seconds, wall seconds) of ``repeats`` calls of ``fn``."""
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------------------------------ traingen


def ours_stepper(model, images: torch.Tensor, labels: torch.Tensor, *, seed: int = 0,
                 ema: bool = True) -> Callable[[int], None]:
    """A function running ``n`` training steps of ``model`` on random batches of ``images``."""
    opt_g, opt_d = model.optimizers()
    avg = EMA(model.G, 0.999, 0) if ema else None
    g = torch.Generator().manual_seed(seed)
    semi = model.config.semi_supervised
    state = {"step": 0}
    model.train()

    def run(n: int) -> None:
        for _ in range(n):
            idx = torch.randint(0, len(images), (BATCH,), generator=g)
            x, y = images[idx], labels[idx]
            u = images[torch.randint(0, len(images), (BATCH,), generator=g)] if semi else None
            z, yf = model.sample_z(BATCH, generator=g), model.sample_labels(BATCH, generator=g)
            opt_d.zero_grad(set_to_none=True)
            loss_d, _ = model.d_loss(x, y, z, yf, unlabeled=u)
            loss_d.backward()
            opt_d.step()
            z, yf = model.sample_z(BATCH, generator=g), model.sample_labels(BATCH, generator=g)
            opt_g.zero_grad(set_to_none=True)
            loss_g, _ = model.g_loss(z, yf, real=u if semi else x, y_real=None if semi else y)
            loss_g.backward()
            opt_g.step()
            opt_d.zero_grad(set_to_none=True)
            model.after_step()
            state["step"] += 1
            if avg is not None:
                avg.update(model.G, state["step"])

    return run


def ours_generate(model) -> Callable[[], None]:
    """Generate :data:`GEN_N` uint8 samples with ``model.G`` (eval mode, no grad, batch 500)."""
    g = torch.Generator().manual_seed(1)

    def run() -> None:
        model.G.eval()
        with torch.no_grad():
            for start in range(0, GEN_N, GEN_BATCH):
                n = min(GEN_BATCH, GEN_N - start)
                to_uint8(model.G(model.sample_z(n, generator=g), model.sample_labels(n, generator=g)))
        model.G.train()

    return run


def recipe_config(name: str) -> TrainConfig:
    return load_train_config(ROOT / "recipes" / f"gan-{name}-mnist5k.yaml")


# ------------------------------------------------------------------------------------------ reference


def reference_models(path: Path, mc: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """ajbrock/BigGAN-PyTorch's G and D sized like our ``biggan`` config ``mc`` (32 px RGB)."""
    sys.path.insert(0, str(path))
    try:
        import BigGAN  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(path))
    torch.manual_seed(0)  # their init draws from the global RNG
    G = BigGAN.Generator(G_ch=mc["ch"], dim_z=mc["z_dim"], resolution=32, G_attn=str(mc["attention_res"]),
                         n_classes=mc["num_classes"], shared_dim=mc["shared_dim"], hier=True, G_lr=mc["lr_g"],
                         G_B1=mc["beta1"], G_B2=mc["beta2"])
    D = BigGAN.Discriminator(D_ch=mc["ch"], resolution=32, D_attn=str(mc["attention_res"]),
                             n_classes=mc["num_classes"], D_lr=mc["lr_d"], D_B1=mc["beta1"], D_B2=mc["beta2"])
    return G, D


def _ortho_grad_(module: torch.nn.Module, beta: float, skip: list[torch.nn.Parameter]) -> None:
    """BigGAN-PyTorch's modified orthogonal regularisation, applied to the gradients."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() < 2 or any(p is s for s in skip) or p.grad is None:
                continue
            w = p.view(p.shape[0], -1)
            eye = torch.eye(w.shape[0])
            p.grad += beta * (2 * ((w @ w.t()) * (1.0 - eye)) @ w).view(p.shape)


def reference_stepper(G, D, images: torch.Tensor, labels: torch.Tensor, beta: float) -> Callable[[int], None]:
    g = torch.Generator().manual_seed(0)
    dim_z = G.dim_z
    skip = list(G.shared.parameters())

    def run(n: int) -> None:
        for _ in range(n):
            idx = torch.randint(0, len(images), (BATCH,), generator=g)
            x, y = images[idx], labels[idx]
            z, yf = torch.randn(BATCH, dim_z, generator=g), torch.randint(0, 10, (BATCH,), generator=g)
            D.optim.zero_grad()
            with torch.no_grad():
                fake = G(z, G.shared(yf))
            d_out = D(torch.cat([fake, x]), torch.cat([yf, y]))
            d_fake, d_real = d_out[:BATCH], d_out[BATCH:]
            loss_d = torch.relu(1.0 - d_real).mean() + torch.relu(1.0 + d_fake).mean()
            loss_d.backward()
            D.optim.step()
            z, yf = torch.randn(BATCH, dim_z, generator=g), torch.randint(0, 10, (BATCH,), generator=g)
            G.optim.zero_grad()
            loss_g = -D(G(z, G.shared(yf)), yf).mean()
            loss_g.backward()
            if beta > 0:
                _ortho_grad_(G, beta, skip)
            G.optim.step()

    return run


def reference_generate(G) -> Callable[[], None]:
    g = torch.Generator().manual_seed(1)

    def run() -> None:
        G.eval()
        with torch.no_grad():
            for start in range(0, GEN_N, GEN_BATCH):
                n = min(GEN_BATCH, GEN_N - start)
                y = torch.randint(0, 10, (n,), generator=g)
                to_uint8(G(torch.randn(n, G.dim_z, generator=g), G.shared(y)))
        G.train()

    return run


# ------------------------------------------------------------------------------------------ main


def bench_steps(stepper: Callable[[int], None], steps: int, repeats: int) -> tuple[float, float]:
    stepper(2)  # warm-up (allocator, first-call overheads)
    cpu, wall = timed(lambda: stepper(steps), repeats)
    return steps / cpu, steps / wall


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per repeat")
    ap.add_argument("--gen-repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="3 repeats of 4 steps, 1 generation repeat")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--reference", default=None, help="checkout of ajbrock/BigGAN-PyTorch (optional)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats, args.steps, args.gen_repeats = 3, 4, 1
    torch.set_num_threads(1)
    load0 = os.getloadavg()
    data = load_real_data("builtin:mnist5k@train", image_size=28, channels=1, num_classes=10)
    rows = []
    for name in args.models.split(","):
        cfg = recipe_config(name)
        model = build_model(cfg, generator=torch.Generator().manual_seed(0))
        stepper = ours_stepper(model, data.images, data.labels)
        sps_cpu, sps_wall = bench_steps(stepper, args.steps, args.repeats)
        gen_cpu, gen_wall = timed(ours_generate(model), args.gen_repeats)
        rows.append((name, f"{cfg.model_config.get('ch')}", n_params(model.G), n_params(model.D), sps_cpu,
                     sps_wall, gen_cpu, gen_wall))
        print(f"{name:8s} G {n_params(model.G):>8,} D {n_params(model.D):>8,} params: {sps_cpu:6.2f} steps/s "
              f"(CPU), {sps_wall:6.2f} (wall); 10k samples {gen_cpu:6.2f} s CPU, {gen_wall:6.2f} s wall",
              flush=True)

    ref_rows, ref_note = [], ""
    ref = Path(args.reference) if args.reference else None
    if ref is None or not (ref / "BigGAN.py").is_file():
        ref_note = ("Reference column skipped: no --reference checkout of ajbrock/BigGAN-PyTorch given"
                    if ref is None else f"Reference column skipped: {ref} has no BigGAN.py")
        print(ref_note)
    else:
        mc = dict(recipe_config("biggan").model_config)
        mc.update(image_size=32, channels=3, attention_res=8)
        x32 = torch.nn.functional.interpolate(data.images, size=(32, 32), mode="bilinear",
                                              align_corners=False).expand(-1, 3, -1, -1).contiguous()
        ours_cfg = resolved(TrainConfig(model="biggan", model_config=mc))
        ours = build_model(ours_cfg, generator=torch.Generator().manual_seed(0))
        G, D = reference_models(ref, mc)
        commit = _git_head(ref)
        sides = (
            ("traingen biggan", ours.G, ours.D, ours_stepper(ours, x32, data.labels, ema=False),
             ours_generate(ours)),
            (f"BigGAN-PyTorch {commit}", G, D,
             reference_stepper(G, D, x32, data.labels, mc["orthogonal_reg"]), reference_generate(G)),
        )
        for label, G_, D_, stepper, gen in sides:
            s_cpu, s_wall = bench_steps(stepper, args.steps, args.repeats)
            g_cpu, g_wall = timed(gen, args.gen_repeats)
            ref_rows.append((label, n_params(G_), n_params(D_), s_cpu, s_wall, g_cpu, g_wall))
            print(f"{label:28s} G {n_params(G_):>8,} D {n_params(D_):>8,}: {s_cpu:6.2f} steps/s (CPU), "
                  f"{s_wall:6.2f} (wall); 10k samples {g_cpu:6.2f} s CPU", flush=True)
    load1 = os.getloadavg()
    text = report(args, rows, ref_rows, ref_note, load0, load1)
    print(text)
    if not args.no_write:
        with open(args.out, "a") as f:
            f.write("\n" + text)
    return 0


def _git_head(path: Path) -> str:
    head = path / ".git" / "HEAD"
    if head.is_file():
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            target = path / ".git" / ref[5:]
            if target.is_file():
                return target.read_text().strip()[:12]
        return ref[:12]
    return "(checkout without .git)"


def report(args, rows, ref_rows, ref_note, load0, load1) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## GAN ({now})", "",
        f"`python bench/gan.py{' --quick' if args.quick else ''}`: torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, 1 thread; batch {BATCH}, 28 px grey, the recipes' "
        f"model configs; median of {args.repeats} repeats of {args.steps} steps (after 2 warm-up steps), "
        f"generation of {GEN_N:,} samples at batch {GEN_BATCH} (median of {args.gen_repeats}). CPU = process "
        f"time, wall = elapsed. Load average {load0[0]:.2f} before, {load1[0]:.2f} after (2 shared cores).",
        "",
        "| model | ch | G params | D params | steps/s (CPU) | steps/s (wall) | 10k samples, s (CPU) | "
        "10k samples, s (wall) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, ch, pg, pd, sc, sw, gc, gw in rows:
        lines.append(f"| {name} | {ch} | {pg:,} | {pd:,} | {sc:.2f} | {sw:.2f} | {gc:.2f} | {gw:.2f} |")
    lines.append("")
    if ref_rows:
        lines += [
            "Reference: ajbrock/BigGAN-PyTorch at 32 px RGB, batch 64, same ch/z/shared_dim/attention (8x8), "
            "hinge, one D and one G step, orthogonal regularisation on G (their gradient form). The "
            "architectures are not identical (see the parameter counts); no EMA on either side.",
            "",
            "| implementation | G params | D params | steps/s (CPU) | steps/s (wall) | "
            "10k samples, s (CPU) | 10k samples, s (wall) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for label, pg, pd, sc, sw, gc, gw in ref_rows:
            lines.append(f"| {label} | {pg:,} | {pd:,} | {sc:.2f} | {sw:.2f} | {gc:.2f} | {gw:.2f} |")
        lines.append("")
    else:
        lines += [ref_note + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
