"""Benchmarks of lecture_lib against numpy, scipy and torch, as ratios.

Every row times our function and a reference on the same input in this
process, one after the other, and prints the ratio (ours / reference): a
ratio is comparable across machines where seconds are not. Each time is
the best of several repeats. Peak extra memory of our call is measured
with tracemalloc (numpy reports its allocations to it).

Run with ``make bench`` or ``python benchmarks/bench.py``. torch rows need
the optional ``bench`` extra; without torch they say so.
"""

import argparse
import os
import sys
import time
import tracemalloc

import numpy as np
import scipy.special

from lecture_lib.attention import scaled_dot_product_attention
from lecture_lib.heads import cross_entropy, cross_entropy_grad
from lecture_lib.softmax import log_softmax, logsumexp, softmax

try:
    import torch
except ImportError:  # the optional "bench" extra
    torch = None


def best_time(func, repeats):
    """Smallest wall time of ``repeats`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mib(func):
    """Peak memory allocated while ``func`` runs, in MiB."""
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def max_rel_error(ours, exact, normwise=False):
    """Largest error relative to each exact entry, or to the largest one.

    Attention outputs are averages that can be near 0, where an entry's
    own relative error says little: ``normwise`` divides by max |exact|.
    """
    exact = np.asarray(exact, dtype=np.float64)
    err = np.abs(np.asarray(ours, dtype=np.float64) - exact)
    scale = np.max(np.abs(exact)) if normwise else np.abs(exact)
    return float(np.max(err / np.maximum(scale, 1e-30)))


#: Goals, as the largest ratio (ours / reference) allowed, by row kind.
TARGETS = {
    "softmax float32": {"np.exp": 1.5, "scipy": 0.75},
    "softmax float64": {"np.exp": 2.0, "scipy": 0.75},
    "attention": {"torch": 2.5},
}


def row(name, ours, refs, repeats, result=None, exact=None, normwise=False):
    """Time ``ours`` and each reference; return the printed fields.

    A row whose name starts with a key of ``TARGETS`` ends with whether
    its goals were met, naming each ratio that missed, or with the
    references it lacks to say.
    """
    t_ours = best_time(ours, repeats)
    fields = [name.ljust(38), f"{t_ours * 1e3:9.2f}"]
    ratios = {}
    for label, ref in refs:
        if ref is None:
            fields.append(f"{label}: n/a")
        else:
            ratios[label] = t_ours / best_time(ref, repeats)
            fields.append(f"{label}: {ratios[label]:5.2f}x")
    fields.append(f"peak {peak_mib(ours):7.1f} MiB")
    if result is not None:
        err = max_rel_error(result(), exact(), normwise)
        what = "max err / max |float64|" if normwise else "max rel err"
        fields.append(f"{what} {err:.1e}")
    goals = next((g for k, g in TARGETS.items() if name.startswith(k)), {})
    missed = [
        f"{label} {ratios[label]:.2f}x > {limit}x"
        for label, limit in goals.items()
        if label in ratios and ratios[label] > limit
    ]
    unmeasured = [label for label in goals if label not in ratios]
    if missed:
        fields.append(f"MISSED: {', '.join(missed)}")
    elif unmeasured:
        # No reference, no verdict (torch is an optional extra).
        fields.append(f"not measured: no {', '.join(unmeasured)}")
    elif goals:
        fields.append("met")
    return fields


def reduction_rows(x, axis, repeats):
    """Rows for softmax, log_softmax and logsumexp of ``x`` along ``axis``."""
    tx = torch.from_numpy(x) if torch is not None else None
    tag = f"{x.dtype.name} axis={axis}"
    exact = x.astype(np.float64)
    cases = [
        ("softmax", softmax, scipy.special.softmax, "softmax"),
        ("log_softmax", log_softmax, scipy.special.log_softmax, "log_softmax"),
        ("logsumexp", logsumexp, scipy.special.logsumexp, "logsumexp"),
    ]
    rows = []
    for name, ours, theirs, torch_name in cases:
        ref_torch = None
        if tx is not None:
            fn = getattr(torch, torch_name)

            def ref_torch(fn=fn):
                return fn(tx, dim=axis)

        rows.append(
            row(
                f"{name} {tag}",
                lambda ours=ours: ours(x, axis=axis),
                [
                    ("np.exp", lambda: np.exp(x)),
                    ("scipy", lambda theirs=theirs: theirs(x, axis=axis)),
                    ("torch", ref_torch),
                ],
                repeats,
                result=lambda ours=ours: ours(x, axis=axis),
                exact=lambda theirs=theirs: theirs(exact, axis=axis),
            )
        )
    return rows


def softmax_rows(shape, repeats):
    rng = np.random.default_rng(0)
    rows = []
    for dtype in (np.float32, np.float64):
        x = rng.normal(scale=3.0, size=shape).astype(dtype)
        for axis in (-1, 0):
            rows += reduction_rows(x, axis, repeats)
    return rows


def attention_float64(Q, K, V, mask):
    """The output of attention by the textbook formula, in float64."""
    Q, K, V = (a.astype(np.float64) for a in (Q, K, V))
    scores = Q @ np.swapaxes(K, -1, -2) / np.sqrt(Q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return scipy.special.softmax(scores, axis=-1) @ V


def attention_rows(batch, heads, n, d, repeats):
    rng = np.random.default_rng(1)
    Q, K, V = (
        rng.normal(size=(batch, heads, n, d)).astype(np.float32)
        for _ in range(3)
    )
    causal = np.tril(np.ones((n, n), dtype=bool))
    rows = []
    for name, mask in (("attention", None), ("attention causal", causal)):
        ref = None
        if torch is not None:
            tq, tk, tv = (torch.from_numpy(a) for a in (Q, K, V))
            tm = None if mask is None else torch.from_numpy(mask)

            def ref(tq=tq, tk=tk, tv=tv, tm=tm):
                return torch.nn.functional.scaled_dot_product_attention(
                    tq, tk, tv, attn_mask=tm
                )

        def ours(mask=mask):
            # Output only, as torch returns: queries go in blocks.
            return scaled_dot_product_attention(
                Q, K, V, mask, return_weights=False
            )

        rows.append(
            row(
                f"{name} f32 {batch}x{heads}x{n}x{d}",
                ours,
                [("torch", ref)],
                repeats,
                result=ours,
                exact=lambda mask=mask: attention_float64(Q, K, V, mask),
                normwise=True,
            )
        )
    return rows


def cross_entropy_rows(batch, n, repeats):
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=3.0, size=(batch, n)).astype(np.float32)
    labels = rng.integers(0, n, size=batch)
    ref = None
    if torch is not None:
        tl = torch.from_numpy(logits)
        ty = torch.from_numpy(labels)

        def ref():
            z = tl.clone().requires_grad_(True)
            torch.nn.functional.cross_entropy(z, ty).backward()

    def ours():
        cross_entropy(logits, labels)
        cross_entropy_grad(logits, labels)

    return [
        row(
            f"cross-entropy fwd+bwd f32 {batch}x{n}",
            ours,
            [("torch", ref)],
            repeats,
        )
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small arrays and few repeats (a smoke run)",
    )
    args = parser.parse_args(argv)
    size, repeats = (512, 3) if args.quick else (4096, 7)
    threads = torch.get_num_threads() if torch is not None else None
    print(
        f"numpy {np.__version__}, scipy {scipy.__version__}, torch "
        f"{torch.__version__ if torch else 'not installed'} "
        f"(threads {threads}), cores {os.cpu_count()}"
    )
    print("time of ours in ms, then ours / reference (below 1: faster)\n")
    rows = softmax_rows((size, size), repeats)
    n = 128 if args.quick else 512
    rows += attention_rows(8, 8, n, 64, repeats)
    rows += cross_entropy_rows(
        size * 4, 1000 if not args.quick else 100, repeats
    )
    for fields in rows:
        print("  ".join(fields))
    return 0


if __name__ == "__main__":
    sys.exit(main())
