"""The `tf.distribute` strategy behind a ``--strategy`` option."""

from __future__ import annotations

import os
from typing import Any

from keras_backdrop.experiments.options import STRATEGIES


def make_strategy(name: str, replicas: int | None = None) -> Any:
    """The strategy for ``name``; call it before TensorFlow runs any op.

    Args:
        name: One of `STRATEGIES`. ``"none"`` gives TensorFlow's default
            strategy (one device, no scope needed).
        replicas: For ``"mirrored"``: the first ``replicas`` GPUs when
            TensorFlow sees GPUs (default all), else that many logical CPU
            devices (default 2), carved out of the one physical CPU, which
            is only possible before the runtime initialises. Must be None
            for the other strategies.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: on an unknown name, a replica count that does not fit,
            or ``"multiworker"`` without ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Invalid value for argument `name`: expected one of {STRATEGIES}. "
            f"Received: name={name!r}"
        )
    if replicas is not None and name != "mirrored":
        raise ValueError(
            "Invalid value for argument `replicas`: it only applies to "
            "'mirrored' (multiworker has one replica per worker, none has "
            f"one). Received: replicas={replicas!r}, name={name!r}"
        )
    if replicas is not None and (
        isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1
    ):
        raise ValueError(
            "Invalid value for argument `replicas`: expected an integer >= 1 "
            f"or None. Received: replicas={replicas!r}"
        )
    if name == "multiworker" and "TF_CONFIG" not in os.environ:
        raise ValueError(
            "Invalid value for argument `name`: 'multiworker' needs the "
            "TF_CONFIG environment variable (cluster and task). "
            f"Received: name={name!r} without TF_CONFIG"
        )
    import tensorflow as tf

    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "none":
        return tf.distribute.get_strategy()
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        count = len(gpus) if replicas is None else replicas
        if count > len(gpus):
            raise ValueError(
                "Invalid value for argument `replicas`: at most the "
                f"{len(gpus)} visible GPUs. Received: replicas={replicas!r}"
            )
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
    count = 2 if replicas is None else replicas
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * count
    )
    return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(count)])


def is_chief(strategy: Any) -> bool:
    """Whether this process writes the outputs (always, without a cluster).

    The chief is the task of type ``chief`` if the cluster has one, else
    ``worker`` 0: TensorFlow's own convention for
    `tf.distribute.MultiWorkerMirroredStrategy`.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
