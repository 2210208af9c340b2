"""Run the semi-supervised (K+1)-class GAN experiment (Salimans et al. 2016, section 5) on mnist5k.

Trains, for every seed, the (K+1)-class discriminator GAN of ``recipes/gan-semisup-mnist5k.yaml``
(100 labelled digits, 3,900 unlabelled) and the same D on the 100 labels alone, classifies the 1,000
``builtin:mnist5k@test`` digits with both and writes ``OUT/results.json`` and ``OUT/results.md``
(see :mod:`traingen.gan.semi_supervised_experiment`). The full recipe takes tens of minutes per seed
on 2 CPU cores; ``--steps`` shortens it.

Usage:
    OMP_NUM_THREADS=1 python scripts/semi_supervised_mnist5k.py --out runs/semisup
    python scripts/semi_supervised_mnist5k.py --out /tmp/s --seeds 0 --steps 20 --overwrite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "gan-semisup-mnist5k.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(RECIPE), help="semi-supervised recipe (default: %(default)s)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: the recipe's, 0,1,2)")
    parser.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    parser.add_argument("--overwrite", action="store_true", help="replace earlier runs in OUT")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)

    from traingen.core.errors import TraingenError
    from traingen.gan.semi_supervised_experiment import markdown_table, run_semi_supervised

    seeds = None if args.seeds is None else [int(s) for s in args.seeds.split(",") if s.strip()]

    def progress(arm: str, seed: int, step: int, total: int) -> None:
        if not args.quiet and (step % 50 == 0 or step == total):
            print(f"seed {seed} {arm}: {step}/{total}", file=sys.stderr, flush=True)

    try:
        result = run_semi_supervised(args.config, args.out, seeds=seeds, steps=args.steps, progress=progress,
                                     overwrite=args.overwrite)
    except TraingenError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown_table(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
