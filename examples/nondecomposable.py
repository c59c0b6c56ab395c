"""
Title: Batch-level losses with a backdrop mask on the batch axis
Author: keras-backdrop contributors
Date created: 2026/12/02
Last modified: 2026/12/02
Description: Train on the whole batch's soft-F1 or pairwise AUC loss while the gradient flows through a random subset of the samples.
Accelerator: None
"""

# ## Introduction
#
# Some losses are a property of the whole batch, not a sum over samples: the
# F-measure, the ROC AUC. `keras_backdrop.losses` has differentiable versions
# of both, `SoftF1` and `PairwiseAUC`. A minibatch estimate of such a loss is
# biased, and with rare positives many minibatches hold no positive at all.
# Backdrop (Golkar and Cranmer, arXiv:1806.01337) keeps the loss on the full
# batch and makes the gradient stochastic instead: a
# `BackdropMasking(keep_count=k, mask_axes=(0,))` layer on the per-sample
# logits passes the forward values unchanged and lets the gradient back
# through `k` randomly chosen samples per step.
#
# This example trains the same small network twice on one imbalanced task,
# with full-batch gradients and with backdrop, and reports test F1 and ROC
# AUC. The study that compares these methods fairly (tuned learning rates,
# equal budgets, ten seeds) is `python -m research.nondecomposable` in the
# repository.
#
# Run it from the repository root:
#
#     python -m examples.nondecomposable
#     python -m examples.nondecomposable --loss pairwise_auc
#     python -m examples.nondecomposable --fast   # a few seconds

# ## Setup

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_backdrop import BackdropMasking  # noqa: E402
from keras_backdrop.losses import PairwiseAUC, SoftF1  # noqa: E402

parser = argparse.ArgumentParser(description="Batch-level losses with backdrop.")
parser.add_argument("--loss", choices=["soft_f1", "pairwise_auc"], default="soft_f1")
parser.add_argument("--keep-count", type=int, default=64)
parser.add_argument("--fast", action="store_true", help="a tiny run, for tests")
args = parser.parse_args()
steps = 10 if args.fast else 300

# ## An imbalanced task
#
# Two Gaussian classes in 20 dimensions; about 3 % of the samples are
# positive and the classes overlap, so the task is neither trivial nor
# hopeless. The training set is small enough to be one batch.

rng = np.random.default_rng(0)


def make_data(n):
    """`n` samples: inputs and 0/1 labels."""
    y = (rng.random(n) < 0.03).astype("float32")
    x = rng.standard_normal((n, 20)).astype("float32")
    x[:, :5] += 1.2 * y[:, None]  # positives are shifted in five features
    return x, y


x_train, y_train = make_data(256 if args.fast else 2048)
x_test, y_test = make_data(2000 if args.fast else 20000)
print(f"{int(y_train.sum())} positives among {len(y_train)} training samples")

# ## The model
#
# An MLP ending in one logit per sample. With `backdrop=True`, a
# `BackdropMasking` layer on the logits masks the batch axis (`mask_axes=(0,)`):
# every step it keeps `keep_count` samples' gradients, scaled up by
# `batch / keep_count`, and zeroes the rest. The loss still sees every logit.


def make_model(backdrop):
    """The MLP, with the batch-axis mask on its logits if `backdrop`."""
    inputs = keras.Input((20,))
    h = keras.layers.Dense(64, activation="relu")(inputs)
    h = keras.layers.Dense(64, activation="relu")(h)
    logits = keras.layers.Dense(1)(h)
    if backdrop:
        logits = BackdropMasking(keep_count=args.keep_count, mask_axes=(0,), seed=0)(
            logits
        )
    return keras.Model(inputs, logits)


# ## Training on the full batch
#
# `batch_size=len(x_train)` makes each step's loss the loss of the whole
# training set; one epoch is one step. Both losses take logits
# (`from_logits=True`).

loss_class = {"soft_f1": SoftF1, "pairwise_auc": PairwiseAUC}[args.loss]
results = {}
for backdrop in (False, True):
    keras.utils.set_random_seed(0)  # the same initial weights for both
    model = make_model(backdrop)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=loss_class(from_logits=True)
    )
    model.fit(x_train, y_train, batch_size=len(x_train), epochs=steps, verbose=0)
    # In inference the mask layer is the identity.
    logits = keras.ops.convert_to_numpy(model.predict(x_test, verbose=0)).ravel()
    auc = keras.metrics.AUC(from_logits=True, num_thresholds=1000)
    auc.update_state(y_test, logits)
    predicted = logits > 0
    tp = float(np.sum(predicted & (y_test > 0)))
    f1 = 2 * tp / max(float(np.sum(predicted) + np.sum(y_test)), 1.0)
    name = f"backdrop keep_count={args.keep_count}" if backdrop else "full batch"
    results[name] = (f1, float(auc.result()))

# ## Results
#
# F1 at logit 0 and ROC AUC on the test set. One seed and one learning rate
# say little about which method is better; see `docs/results/nondecomposable/`
# for the study.

for name, (f1, auc) in results.items():
    print(f"{name:>24}: test F1 {f1:.3f}, test ROC AUC {auc:.3f}")
