"""Per Keras backend: the texture network's training step, masked / unmasked.

For each of TensorFlow, JAX and PyTorch that is installed, a child process
with `KERAS_BACKEND` set builds the texture network of
`texture_network` with and without its two
`BackdropMasking` layers (same weights; the former texture example's defaults: 128 px, 32
filters, crisp 2x2 kernels, fine mask 0.3 after conv 2 and coarse mask 0.75
after conv 5, per-sample masks, a 1x1 convolution per coarse cell) and
compiles both as the texture examples did (Adam, sparse
cross-entropy on logits, accuracy), with `jit_compile` off and on. Steps are
`model.train_on_batch` calls on a fixed batch, the way a user trains; Keras'
per-call bookkeeping is the same for both models. Masked and unmasked calls
alternate in rounds whose order is drawn at random per round; the first
calls (tracing, XLA or `torch.compile`) and a warm-up are not timed.
Reported per backend and `jit_compile`: each model's median step time (best
of a few calls per round) and the paired masked/unmasked ratio with its
quartiles, as in the other scripts, and a 95 % bootstrap interval of the
median ratio. Each variant runs on two model instances (their mean time per
round): two instances of one model differ by a percent or two, steadily.
And each backend runs in three child processes, taken in turn: a
backend's ratio moved by up to 9 percent from one process to the next.
The table gives the mean of the processes' ratios and their range; the
JSON keeps every process's row.

Why one child per backend: Keras fixes its backend at import, and
importing TensorFlow before Keras under `KERAS_BACKEND=torch` can abort
the process, so a child imports only Keras, NumPy, `keras_backdrop`, the
example and the backend's own module (the helpers come from the
framework-free `_core`). A backend that is not installed is reported as
skipped. `torch.compile` takes tens of seconds per model on a CPU, so
every warm-up runs under a time cap: past it the child is killed and the
setting is reported as skipped with the reason, keeping the rows already
measured. Children run with `OMP_WAIT_POLICY=PASSIVE` unless the caller
set a policy (see `run_backend`: PyTorch's spinning OpenMP threads made
its steps 10 to 100 times slower on the busy shared machine).

Target: ratio at most 1.03 with `jit_compile` on every backend. The
absolute step times compare the backends on this CPU; they are measured
one backend after another, so unlike the ratios they are exposed to load
changes between children (the load average before and after each child is
recorded).

Run: `python benchmarks/backends.py [--quick] [--out PATH.json]`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from _core import (  # noqa: E402
    RATIO_COLUMNS,
    child_arguments,
    child_command,
    format_table,
    host_info,
    print_table,
)

NAME = "backends"
TARGET = 1.03
BACKENDS = ("tensorflow", "jax", "torch")

# The former texture example's default network (its config "default": the
# paper's lengths x 1/8 at 128 px, four classes), kept so that the
# benchmark's numbers stay comparable.
SCALES = ((1.1875, 1.25), (10.0, 17.5))
N_CLASSES = 4
MODEL_KWARGS = {
    "fine_prob": 0.3,
    "coarse_prob": 0.75,
    "mask_axes": "sample",
    "head": "cell",
    "filters": 32,
    "kernel": "crisp",
}
SEED = 0

# Lines of the child's stdout meant for the parent start with this, so that
# anything a library prints there cannot be mistaken for a result.
MARK = "@@backends "


# Every setting as (quick mode, full run). Quick mode is for CI: 32 px,
# batch 2. The full run: 128 px is the example's image size; batch 8 is the
# example's and the larger of layer_training.py's. The caps are in seconds:
# the first calls plus warm-up of both models of one setting, torch.compile
# of the two models, and each child as a whole. `torch.compile` needs over
# a minute for the two models even at 32 px on the project's CPUs, so quick
# mode skips it by its cap (and so exercises the cap) unless the machine is
# much faster; at 128 px it took about 2.5 min here.
_SETTINGS = {
    "size": (32, 128),
    "batch": (2, 8),
    "jit": ((False, True), (False, True)),
    "rounds": (3, 41),
    "calls": (1, 5),
    "instances": (1, 2),
    "processes": (1, 3),
    "warmup": (1, 3),
    "warmup_cap_s": (120, 300),
    "torch_compile_cap_s": (10, 480),
    "child_cap_s": (300, 1800),
}


def settings(quick: bool) -> dict[str, Any]:
    """Sizes, repetition counts and time caps; quick mode is for CI."""
    return {key: pair[0] if quick else pair[1] for key, pair in _SETTINGS.items()}


# --------------------------------------------------------------------------
# The child: one backend, every jit setting


def _emit(event: str, **fields: Any) -> None:
    print(MARK + json.dumps({"event": event, **fields}), flush=True)


def child(backend: str, cfg: dict[str, Any]) -> None:
    """Runs in a fresh interpreter with `KERAS_BACKEND=backend`."""
    start = time.perf_counter()
    # Keras first: it reads KERAS_BACKEND and imports the backend itself.
    import keras
    import numpy as np

    if keras.backend.backend() != backend:
        raise RuntimeError(
            f"KERAS_BACKEND={backend} asked, Keras runs {keras.backend.backend()}"
        )
    backend_module = importlib.import_module(backend)
    sys.path.insert(0, str(REPO))
    from _core import interleaved_times, pooled_ratio_stats, ratio_stats
    from texture_network import build_texture_model

    import keras_backdrop

    import_s = time.perf_counter() - start
    size, batch = cfg["size"], cfg["batch"]
    rng = np.random.default_rng(SEED)
    x = keras.ops.convert_to_tensor(
        rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    )
    y = keras.ops.convert_to_tensor(
        rng.integers(0, N_CLASSES, size=(batch,)).astype(np.int32)
    )

    def build(masks: bool, jit: bool) -> keras.Model:
        # Both models get the same weights: the example's initialisers are
        # seeded from `seed`, and the masks add no weights. (Not
        # `keras.utils.set_random_seed`: it imports TensorFlow whenever it
        # is installed, whatever the backend.)
        model = build_texture_model(
            size, SCALES, N_CLASSES, masks=masks, seed=SEED, **MODEL_KWARGS
        )
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=jit,
        )
        return model

    info = {
        "backend": backend,
        "keras": keras.__version__,
        "backend_version": getattr(backend_module, "__version__", "unknown"),
        "import_s": import_s,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        # The checkout whose layer was measured (an installed copy would
        # be another version).
        "keras_backdrop": keras_backdrop.__file__,
    }
    if backend == "torch":
        info["torch_threads"] = backend_module.get_num_threads()
    _emit("start", **info)
    for jit in cfg["jit"]:
        # Two instances of one model differ in step time by a percent or
        # two, steadily (benchmarks/README.md, layer_training): each
        # variant is timed on `instances` models, and a round's ratio is
        # the ratio of their mean times.
        models = {
            (name, i): build(name == "masked", jit)
            for i in range(cfg["instances"])
            for name in ("unmasked", "masked")
        }
        same = all(
            np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
            for model in models.values()
            for a, b in zip(
                models["unmasked", 0].trainable_weights, model.trainable_weights
            )
        )
        if not same:
            raise RuntimeError("masked and unmasked models got different weights")
        fns = {key: (lambda m=m: m.train_on_batch(x, y)) for key, m in models.items()}
        compiling = backend == "torch" and jit
        _emit(
            "phase",
            phase="torch.compile warm-up" if compiling else "warm-up",
            jit_compile=jit,
            cap_s=cfg["torch_compile_cap_s" if compiling else "warmup_cap_s"],
        )
        first_s = {}
        for (name, i), fn in fns.items():
            t = time.perf_counter()
            fn()
            if i == 0:
                first_s[name] = time.perf_counter() - t
        for fn in fns.values():
            for _ in range(cfg["warmup"]):
                fn()
        _emit("phase", phase="timing", jit_compile=jit, cap_s=None)
        times = interleaved_times(
            fns,
            rounds=cfg["rounds"],
            calls_per_round=cfg["calls"],
            warmup=0,
            order="shuffle",
            seed=int(jit),
        )
        per_name = {
            name: [t for (n, _), t in times.items() if n == name]
            for name in ("unmasked", "masked")
        }
        # Per round, the mean over a variant's instances.
        mean = {
            name: [sum(ts) / len(ts) for ts in zip(*per_name[name])]
            for name in per_name
        }
        median = {n: sorted(t)[len(t) // 2] for n, t in mean.items()}
        pooled = pooled_ratio_stats(per_name["masked"], per_name["unmasked"])
        _emit(
            "row",
            backend=backend,
            jit_compile=jit,
            size=size,
            batch=batch,
            instances=cfg["instances"],
            unmasked_ms=1000 * median["unmasked"],
            masked_ms=1000 * median["masked"],
            **ratio_stats(mean["masked"], mean["unmasked"]),
            ratio_ci_low=pooled["ratio_ci_low"],
            ratio_ci_high=pooled["ratio_ci_high"],
            first_call_s_unmasked=first_s["unmasked"],
            first_call_s_masked=first_s["masked"],
            rounds=len(mean["masked"]),
            # Whether anything pulled TensorFlow into this process (Keras
            # may load it lazily); a JAX or PyTorch child should not.
            tensorflow_imported="tensorflow" in sys.modules,
            times_ms={f"{n}_{i}": [1000 * v for v in t] for (n, i), t in times.items()},
        )
        del models, fns
    _emit("done")


# --------------------------------------------------------------------------
# The parent: one child per installed backend


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _kill(proc: subprocess.Popen) -> None:
    """Kills the child and what it started (compile workers), by group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_backend(backend: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """Runs one backend's child; returns its rows and skipped settings.

    The child reports each setting as soon as it is measured, and before
    each warm-up says how long that may take; past that cap (or the
    child's own) it is killed, and the settings it had not reported are
    skipped with the reason.
    """
    env = {
        # PyTorch's OpenMP threads spin while they wait for work (libgomp's
        # default, "active"); on a shared machine whose cores are busy
        # with other jobs the spinning threads fight them, and eager steps
        # of this network took 10 to 100 times longer (0.1 to 0.5 s at 32
        # px) than with "passive" waiting. Passive is set unless the caller
        # chose a policy; TensorFlow and JAX use their own thread pools.
        "OMP_WAIT_POLICY": "PASSIVE",
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    cmd = child_command(__file__, [backend, cfg])
    load_before = _loadavg()
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,
    )
    lines: queue.Queue = queue.Queue()
    stderr_tail: deque = deque(maxlen=40)

    def pump_stdout() -> None:
        for line in proc.stdout:
            if line.startswith(MARK):
                lines.put(json.loads(line[len(MARK) :]))
        lines.put(None)

    def pump_stderr() -> None:
        for line in proc.stderr:
            stderr_tail.append(line.rstrip())

    threads = [
        threading.Thread(target=pump_stdout, daemon=True),
        threading.Thread(target=pump_stderr, daemon=True),
    ]
    for t in threads:
        t.start()

    child_deadline = start + cfg["child_cap_s"]
    phase: dict[str, Any] = {"phase": "start-up", "jit_compile": None}
    phase_deadline = None
    info: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    killed = None
    done = False
    while True:
        deadline = min(d for d in (child_deadline, phase_deadline) if d)
        try:
            event = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            if phase_deadline and time.monotonic() >= phase_deadline:
                killed = (
                    f"{phase['phase']} exceeded its {phase['cap_s']} s cap"
                    " (child killed)"
                )
            else:
                killed = (
                    f"child exceeded its {cfg['child_cap_s']} s cap "
                    f"during {phase['phase']} (killed)"
                )
            _kill(proc)
            break
        if event is None:
            break
        kind = event.pop("event")
        if kind == "start":
            info = event
        elif kind == "phase":
            phase = event
            cap = event.get("cap_s")
            phase_deadline = time.monotonic() + cap if cap else None
        elif kind == "row":
            rows.append(event)
            phase_deadline = None
        elif kind == "done":
            info.update(event)
            done = True
    returncode = proc.wait()
    for t in threads:
        t.join(timeout=5)
    seconds = time.monotonic() - start

    skipped = []
    measured = {r["jit_compile"] for r in rows}
    for jit in cfg["jit"]:
        if jit in measured:
            continue
        if killed:
            reason = killed
            if jit != phase.get("jit_compile"):
                reason = f"not reached: jit_compile={phase.get('jit_compile')} {killed}"
        else:
            last = next((ln for ln in reversed(stderr_tail) if ln.strip()), "")
            reason = f"child exited with status {returncode}: {last.strip()}"
        skipped.append({"backend": backend, "jit_compile": jit, "reason": reason})
    for row in rows:
        row["load_before"] = load_before
        row["load_after"] = _loadavg()
    return {
        "backend": backend,
        "info": info,
        "rows": rows,
        "skipped": skipped,
        "complete": done and returncode == 0,
        "seconds": seconds,
        "load_before": load_before,
        "load_after": _loadavg(),
        "stderr_tail": list(stderr_tail) if not done else [],
    }


def run(quick: bool) -> dict[str, Any]:
    """One child per backend; returns rows, skips and the target verdict."""
    cfg = settings(quick)
    skipped: list[dict[str, Any]] = []
    children = {}
    # Per (backend, jit_compile), the row of every child process: a
    # backend's ratio moved by up to 9 percent from one process to the
    # next (JAX with jit: 0.97 and 1.06 in two runs), far more than within
    # one, so each backend runs in `processes` children, taken in turn.
    per_process: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for repeat in range(cfg["processes"]):
        for backend in BACKENDS:
            if importlib.util.find_spec(backend) is None:
                if repeat == 0:
                    skipped.append(
                        {
                            "backend": backend,
                            "jit_compile": None,
                            "reason": f"Python module {backend!r} is not installed",
                        }
                    )
                continue
            print(f"-- {backend} (process {repeat + 1})", file=sys.stderr, flush=True)
            result = run_backend(backend, cfg)
            children[f"{backend} #{repeat + 1}"] = {
                k: v for k, v in result.items() if k not in ("rows", "skipped")
            }
            for row in result["rows"]:
                per_process.setdefault((backend, row["jit_compile"]), []).append(row)
            if result["rows"]:
                print_table(result["rows"], PROCESS_COLUMNS)
            for s in result["skipped"]:
                if s not in skipped:
                    skipped.append(s)
                print(
                    f"skipped {backend} jit_compile={s['jit_compile']}: {s['reason']}",
                    flush=True,
                )
    rows = [_combined_row(process_rows) for process_rows in per_process.values()]
    jit_rows = [r for r in rows if r["jit_compile"]]
    table = format_table(rows, COLUMNS)
    if skipped:
        table += "\n\nSkipped: " + "; ".join(
            f"{s['backend']}"
            + ("" if s["jit_compile"] is None else f" jit_compile={s['jit_compile']}")
            + f" ({s['reason']})"
            for s in skipped
        )
    return {
        "name": NAME,
        "quick": quick,
        "provenance": _provenance(children, cfg),
        "settings": cfg,
        "model": {
            "scales": SCALES,
            "num_classes": N_CLASSES,
            "seed": SEED,
            **MODEL_KWARGS,
        },
        "target": f"masked/unmasked ratio <= {TARGET} with jit_compile on "
        "every backend",
        "target_met": bool(jit_rows)
        and not any(s["jit_compile"] in (None, True) for s in skipped)
        and all(r["ratio"] <= TARGET for r in jit_rows),
        "rows": rows,
        "skipped": skipped,
        "children": children,
        "machine": host_info(),
        "table": table,
    }


def _combined_row(process_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One backend and jit setting over its child processes.

    `ratio` is the mean of the processes' median ratios, with their least
    and greatest beside it; step times are the median over processes.
    """
    ratios = [r["ratio"] for r in process_rows]
    first = process_rows[0]
    return {
        **{k: first[k] for k in ("backend", "jit_compile", "size", "batch")},
        "processes": len(process_rows),
        "unmasked_ms": statistics.median(r["unmasked_ms"] for r in process_rows),
        "masked_ms": statistics.median(r["masked_ms"] for r in process_rows),
        "ratio": statistics.fmean(ratios),
        "ratio_process_min": min(ratios),
        "ratio_process_max": max(ratios),
        "first_call_s_unmasked": first["first_call_s_unmasked"],
        "first_call_s_masked": first["first_call_s_masked"],
        "rounds": min(r["rounds"] for r in process_rows),
        "tensorflow_imported": any(r["tensorflow_imported"] for r in process_rows),
        "process_rows": process_rows,
    }


def _provenance(children: dict[str, dict[str, Any]], cfg: dict[str, Any]) -> str:
    """One line: versions, thread settings and load, per child."""
    parts = []
    for backend, c in children.items():
        info = c["info"]
        text = f"{backend} {info.get('backend_version', '?')}"
        if "torch_threads" in info:
            text += f" ({info['torch_threads']} threads)"

        def load(v: float | None) -> str:
            return "?" if v is None else f"{v:.1f}"

        text += (
            f", load {load(c['load_before'])} -> {load(c['load_after'])}"
            f", {c['seconds']:.0f} s"
        )
        parts.append(text)
    keras_versions = sorted({c["info"].get("keras", "?") for c in children.values()})
    policies = sorted(
        {str(c["info"].get("omp_wait_policy")) for c in children.values()}
    )
    return (
        f"Texture network at {cfg['size']} px, batch {cfg['batch']}, "
        f"{cfg['rounds']} rounds of best-of-{cfg['calls']} `train_on_batch` "
        f"calls. Keras {', '.join(keras_versions)}; "
        f"OMP_WAIT_POLICY={', '.join(policies)}; per child (1-min load "
        f"average before -> after, wall time): {'; '.join(parts)}."
    )


#: A child process's row.
PROCESS_COLUMNS = (
    "backend",
    "jit_compile",
    "size",
    "batch",
    "unmasked_ms",
    "masked_ms",
    *RATIO_COLUMNS,
    "ratio_ci_low",
    "ratio_ci_high",
    "first_call_s_unmasked",
    "first_call_s_masked",
)

#: A backend and jit setting over its processes (`_combined_row`).
COLUMNS = (
    "backend",
    "jit_compile",
    "size",
    "batch",
    "processes",
    "unmasked_ms",
    "masked_ms",
    "ratio",
    "ratio_process_min",
    "ratio_process_max",
    "first_call_s_unmasked",
    "first_call_s_masked",
)

if __name__ == "__main__":
    arguments = child_arguments()
    if arguments is not None:
        child(*arguments)
    else:
        from _cli import main

        main(
            __doc__.splitlines()[0],
            run,
            "CI settings: tiny model and rounds",
            default_out=HERE / "results" / f"{NAME}.json",
        )
