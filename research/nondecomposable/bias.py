"""How far a minibatch's loss and gradient are from the full batch's.

The target of every method is the loss of the whole training set, `L`,
and its gradient `g`. A minibatch step follows the gradient of the loss
of its batch, `L_b`; for a loss that is a sum over samples `E[L_b] = L`
and `E[grad L_b] = g`, but for F1 or AUC they differ: the probe measures
by how much, for each minibatch size (plain and stratified), at the
initial weights and after `bias_steps` full-batch Adam steps. A backdrop
step keeps `L` exactly and follows `J^T (m * dL/dz)` for a mask `m` with
`E[m] = 1`, so its expectation is `g`; the probe measures that too, as a
check of the masks.

Everything is computed in logit space first: the parameter gradient of
any step is `J^T v` for a vector `v` over the training samples (zero
outside a minibatch), so one forward pass serves every draw. The Monte
Carlo noise of a mean gradient is given beside its bias (the root of
`tr Cov / draws`, the size an unbiased method's bias has, relative to
`|g|`) with the p-value of "no bias": under that hypothesis the squared
bias `|E[g_b] - g|^2` is a weighted sum of chi-square variables whose
weights are the eigenvalues of the draws' covariance over `draws`, taken
here in the Welch-Satterthwaite form `a chi2(nu)`. Minibatches of one
epoch partition the training set and are not independent draws: their
noise, and so their p-value, is overstated (conservative).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import scipy.stats

from research.nondecomposable import data as nd_data
from research.nondecomposable import model as nd_model
from research.nondecomposable.losses import make_loss
from research.nondecomposable.settings import Run, Study, parse_method
from research.nondecomposable.train import chunk_batches

#: The seed the probe draws its training set and initial weights from.
PROBE_SEED = 0


def measure(study: Study) -> dict[str, Any]:
    """The probe's figures at the initial weights and after training.

    Returns:
        `{"seed", "train_positives", "points": {point: {draw kind: figures}}}`
        where each figures entry holds `loss_bias` (mean of `L_b - L`, and
        relative to `L`), its standard error, `grad_bias` (`|E[g_b] - g| /
        |g|`) with its Monte Carlo noise, `cosine` (of `E[g_b]` and `g`)
        and the share of draws without a positive.
    """
    import tensorflow as tf  # noqa: PLC0415 (the probe's gradients)

    train = nd_data.split(study, "train", PROBE_SEED)
    scorer, _ = nd_model.build(study, "full_batch", PROBE_SEED)
    loss = make_loss(study.loss)
    x, y = tf.constant(train.x), tf.constant(train.y)
    points = {"initial": _point(study, scorer, loss, x, y, train)}
    if study.bias_steps:
        lr = study.lrs[len(study.lrs) // 2]
        scorer.compile(optimizer=keras.optimizers.Adam(lr), loss=loss)
        scorer.fit(
            train.x,
            train.y,
            batch_size=len(train.y),
            epochs=study.bias_steps,
            shuffle=False,
            verbose=0,
        )
        points[f"after {study.bias_steps} full-batch steps (lr {lr:g})"] = _point(
            study, scorer, loss, x, y, train
        )
    return {
        "seed": PROBE_SEED,
        "train_positives": train.positives,
        "draws": study.bias_draws,
        "points": points,
    }


def _point(study, scorer, loss, x, y, train) -> dict[str, Any]:
    import tensorflow as tf  # noqa: PLC0415

    n = len(train.y)
    z = tf.Variable(scorer(x))

    def logit_gradient(index: np.ndarray) -> tuple[float, np.ndarray]:
        """Loss of the samples `index` and its gradient over all n logits."""
        with tf.GradientTape() as tape:
            value = loss(tf.gather(y, index), tf.gather(z, index))
        grad = tape.gradient(value, z)
        return float(value), np.asarray(tf.convert_to_tensor(grad)).ravel()

    # One forward pass; each draw's parameter gradient is a backward pass.
    with tf.GradientTape(persistent=True) as tape:
        scores = scorer(x)

    def parameter_gradient(v: np.ndarray) -> np.ndarray:
        grads = tape.gradient(
            scores, scorer.trainable_variables, output_gradients=tf.constant(v[:, None])
        )
        return np.concatenate([np.ravel(g) for g in grads])

    full_loss, full_v = logit_gradient(np.arange(n))
    full_g = parameter_gradient(full_v)
    out = {"full_batch_loss": full_loss}
    for kind in ("minibatch", "minibatch_stratified"):
        for size in study.batch_sizes:
            method = f"{kind}_{size}"
            index = _draws(study, method, train)
            values, vs = zip(*(logit_gradient(i) for i in index))
            empty = float(np.mean([train.y[i].sum() == 0 for i in index]))
            out[method] = _figures(
                np.array(values) - full_loss,
                full_loss,
                np.array(vs),
                full_g,
                parameter_gradient,
            )
            out[method]["share_without_positive"] = empty
    for kind in ("backdrop", "backdrop_stratified"):
        for keep in study.keep_counts:
            masks = _masks(study, f"{kind}_{keep}", train)
            vs = masks * full_v
            out[f"{kind}_{keep}"] = _figures(
                np.zeros(len(vs)), full_loss, vs, full_g, parameter_gradient
            )
            out[f"{kind}_{keep}"]["share_without_positive"] = float(
                np.mean((masks[:, train.y > 0.5] > 0).sum(axis=1) == 0)
            )
    return out


def _draws(study: Study, method: str, train) -> list[np.ndarray]:
    """`bias_draws` batches of `method`, as the training would draw them."""
    run = Run(study.replace(eval_every_epochs=1), method, study.lrs[0], PROBE_SEED)
    _, size = parse_method(method)
    positions = np.arange(len(train.y), dtype=np.float32)
    fake = nd_data.Split(positions[:, None], train.y, train.p)
    batches: list[np.ndarray] = []
    chunk = 0
    while len(batches) < study.bias_draws:
        index, _, _ = chunk_batches(run, fake, chunk)
        flat = index[:, 0].astype(int)
        batches += list(flat.reshape(-1, size))
        chunk += 1
    return batches[: study.bias_draws]


def _masks(study: Study, method: str, train) -> np.ndarray:
    """`bias_draws` backdrop masks of `method` (count-normalised)."""
    _, keep = parse_method(method)
    rng = np.random.default_rng([PROBE_SEED, 9])
    if method.startswith("backdrop_stratified"):
        return nd_model.stratified_masks(train.y, keep, study.bias_draws, rng)
    from keras_backdrop import draw_mask  # noqa: PLC0415

    n = len(train.y)
    gen = keras.random.SeedGenerator(PROBE_SEED)
    return np.stack(
        [
            keras.ops.convert_to_numpy(draw_mask((n,), keep_count=keep, seed=gen))
            for _ in range(study.bias_draws)
        ]
    )


def _figures(loss_diff, full_loss, vs, full_g, parameter_gradient) -> dict[str, Any]:
    """Bias of the loss and of the mean gradient, with its noise and p-value.

    Args:
        loss_diff: `L_b - L` per draw.
        full_loss: `L`.
        vs: the logit-space gradient of each draw, shape `(draws, n)`.
        full_g: the full-batch parameter gradient `g`.
        parameter_gradient: maps a logit-space gradient to `J^T v`.
    """
    grads = np.stack([parameter_gradient(v) for v in vs])
    return {
        "loss_bias": float(loss_diff.mean()),
        "loss_bias_relative": float(loss_diff.mean() / full_loss),
        "loss_bias_se": float(loss_diff.std(ddof=1) / np.sqrt(len(loss_diff))),
        **gradient_bias(grads, full_g),
    }


def gradient_bias(grads: np.ndarray, full_g: np.ndarray) -> dict[str, float]:
    """How far the mean of independent draws `grads` is from `full_g`.

    Returns:
        `grad_bias` (`|mean - g| / |g|`), `grad_bias_noise` (the root of
        `tr Cov / draws` over `|g|`: the expected size of an unbiased
        method's `grad_bias`), `grad_bias_p` (the p-value of "the draws'
        expectation is `g`") and `cosine` (of the mean and `g`).
    """
    draws = len(grads)
    mean_g = grads.mean(axis=0)
    centred = (grads - mean_g).astype(np.float64)
    # The draws' covariance has the nonzero eigenvalues of their Gram matrix.
    eig = np.clip(np.linalg.eigvalsh(centred @ centred.T / (draws - 1)), 0, None)
    bias2 = float(np.sum((mean_g - full_g).astype(np.float64) ** 2))
    # Under no bias, draws * bias2 ~ sum eig_j chi2(1) ~ a chi2(nu).
    a = float(np.sum(eig**2) / np.sum(eig))
    nu = float(np.sum(eig) ** 2 / np.sum(eig**2))
    norm = float(np.linalg.norm(full_g))
    return {
        "grad_bias": float(np.sqrt(bias2) / norm),
        "grad_bias_noise": float(np.sqrt(np.sum(eig) / draws) / norm),
        "grad_bias_p": float(scipy.stats.chi2.sf(draws * bias2 / a, nu)),
        "cosine": float(mean_g @ full_g / (np.linalg.norm(mean_g) * norm)),
    }
