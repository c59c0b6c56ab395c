"""Non-decomposable losses: full batch, minibatches and backdrop, compared fairly.

The paper's second claim (Golkar and Cranmer, arXiv:1806.01337): when the
loss is a property of the whole batch (F1, ROC AUC), a minibatch step
optimises a biased estimate of it; full-batch training optimises the right
objective but without the noise that helps generalisation; backdrop keeps
the full-batch loss in the forward pass and passes the gradient back
through a random subset of the samples only.

Why the task fits the argument (`data`): positives are rare (2 %), so a
minibatch of 32 holds no positive half of the time and the soft F1 of a
minibatch is far from the training set's (the bias probe, `bias`,
measures it: after 100 full-batch steps the mean minibatch-32 loss is
about 3.6 times the full-batch loss and its mean gradient is about 0.7
of the full gradient's norm away from it, well above its Monte Carlo
noise); the labels are noisy draws from a known probability, so a
256-256 MLP fits its 4096 training samples (about 80 positives) well
beyond what generalises, and full-batch training overfits; validation
(50,000 samples, about 1,000 positives) and test (200,000, about 4,000)
are fresh draws from the generator, so step and learning-rate selection
and the test figures carry little sampling noise, and the true
probability gives each figure's ceiling.

Modules: `settings` (studies, methods, runs, keys), `data` (the
generator), `losses` (the study's losses), `model` (the network and the
stratified mask), `bias` (the probe), `train` (one run on Keras `fit`,
exact resume), `protocol` (the probe, then methods x learning rates x
seeds), `report` (learning-rate choice, paired t-intervals, tables,
curves). `python -m
research.nondecomposable --help` runs them.

The CPU estimate in `__main__` comes from probe runs of single methods on
two shared cores. `soft_f1`: about 40 s per full-batch or backdrop run
(200 steps of 4,096 samples and 40 validations of 50,000), 50 s per
minibatch-128 run and 110 s per minibatch-32 run (25,600 steps), about 11
minutes per seed and learning rate. `pairwise_auc` (on the gathered
pair matrix, `losses`), with two study processes sharing the two cores:
about 25 s per full-batch or backdrop run, 45 s per minibatch-128 run and
85 s per minibatch-32 run, about 22 minutes per seed (every method and
learning rate) in each process.
"""
