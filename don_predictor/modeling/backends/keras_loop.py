"""Mini-batch training of a small Keras model with early stopping, one compiled TensorFlow call per epoch.

Keras' `Model.fit` costs about 100 ms per epoch on a network this small whatever the batch size (profiled: it builds
a tf.data iterator for the training and the validation data every epoch), so 300 epochs took 30 s per fit and a
5-fold CV with its final fit about 3 minutes, nearly all of it overhead. This loop does what fit did with the same
Keras model, optimizer and loss (the pattern of Keras' guide "Writing a training loop from scratch in TensorFlow"):
each epoch shuffles the rows, takes one optimizer step per batch and measures the validation loss, inside one
`tf.function`; Python only keeps the best weights and stops after `patience` epochs without improvement, as
`keras.callbacks.EarlyStopping(restore_best_weights=True)` did.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

EpochCallback = Callable[[int, float], None]  # (epochs done, training loss)


def fit_with_early_stopping(
    model,
    loss_fn,
    X: np.ndarray,
    z: np.ndarray,
    X_val: np.ndarray | None,
    z_val: np.ndarray | None,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    seed: int,
    on_epoch: EpochCallback,
) -> dict[str, list[float]]:
    """Train `model` (compiled with its optimizer) in place; returns the loss curves ("loss", "val_loss")."""
    import tensorflow as tf

    X_t, z_t = tf.constant(X, tf.float32), tf.constant(z, tf.float32)
    n, n_batches = len(X), max(1, math.ceil(len(X) / batch_size))
    optimizer = model.optimizer

    def regularized(loss):
        return loss + tf.add_n(model.losses) if model.losses else loss

    @tf.function(reduce_retracing=True)
    def train_epoch(order):
        total = tf.constant(0.0)
        for b in tf.range(n_batches):
            rows = order[b * batch_size : tf.minimum((b + 1) * batch_size, n)]
            x, target = tf.gather(X_t, rows), tf.gather(z_t, rows)
            with tf.GradientTape() as tape:
                loss = regularized(loss_fn(target, model(x, training=True)))
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(gradients, model.trainable_variables)
            total += loss * tf.cast(tf.shape(rows)[0], tf.float32)
        return total / n

    validation = None
    if X_val is not None and len(X_val):
        X_v, z_v = tf.constant(X_val, tf.float32), tf.constant(z_val, tf.float32)

        @tf.function
        def validation():
            return regularized(loss_fn(z_v, model(X_v, training=False)))

    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": []}
    best_loss, best_weights, waited = math.inf, None, 0
    for epoch in range(epochs):
        history["loss"].append(float(train_epoch(tf.constant(rng.permutation(n), tf.int32))))
        on_epoch(epoch + 1, history["loss"][-1])
        if validation is None:
            continue
        val_loss = float(validation())
        history.setdefault("val_loss", []).append(val_loss)
        if val_loss < best_loss:
            best_loss, best_weights, waited = val_loss, model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    if best_weights is not None:
        model.set_weights(best_weights)
    return history
