"""TensorFlow backend: a Keras MLP whose input scaling (a Normalization layer) lives inside the saved .keras file.

TensorFlow is imported here only, and only when a TF model is fitted or loaded, so the app starts without it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from don_predictor.modeling.backends.base import DIFFICULTY_FLOOR, Backend, ProgressCallback
from don_predictor.modeling.backends.dense_network import NETWORK_FILE, DenseNetwork
from don_predictor.modeling.backends.keras_loop import fit_with_early_stopping
from don_predictor.modeling.preprocessing import row_preprocessor

MODEL_FILE = "model.keras"
# Rows per call of the network, the last call padded to the same size: a matrix product's rounding depends on its
# number of rows, and a spectrum's prediction must not depend on the rows scored with it (whole file, batches or a
# cluster give the same numbers). The intermediate tensors stay a few MB however many rows are scored.
ROWS_PER_CALL = 2048

# Huber: the transformed target still has a few extreme samples; squared error lets them dominate.
LOSSES = {
    "huber": lambda keras, delta: keras.losses.Huber(delta=delta),
    "mse": lambda keras, delta: keras.losses.MeanSquaredError(),
    "mae": lambda keras, delta: keras.losses.MeanAbsoluteError(),
}


def _keras():
    # Keep TensorFlow's start-up chatter off the console; without oneDNN, CPU results are also repeatable.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import keras
    import tensorflow as tf

    # One thread per op: the network is tiny, and TensorFlow's default pools (a thread per core, spinning) only
    # fought the app and other jobs for the CPU. Settable only before TensorFlow's first op in the process.
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    return keras


class TensorFlowBackend(Backend):
    name = "tf"
    label = "TensorFlow"

    def __init__(
        self,
        hidden_units: tuple[int, ...] = (32, 16),
        dropout: float = 0.2,
        l2: float = 1e-2,
        learning_rate: float = 1e-3,
        epochs: int = 300,
        batch_size: int = 64,
        patience: int = 20,
        validation_fraction: float = 0.15,
        # Project the scaled spectra on their first principal components first (0: off). On the dev data this
        # was more stable than a wide first layer on 448 collinear bands; 10 components, two small layers and
        # L2 1e-2 won most folds of a nested search (docs/model_card.md).
        pca_components: int = 10,  # MLP only
        architecture: str = "mlp",  # or "cnn": a small 1-D CNN over the bands
        # Members trained side by side; their spread is the model's difficulty estimate, which narrows the
        # intervals where they agree. Five also rank samples a little better than one (docs/model_card.md).
        ensemble_size: int = 5,
        loss: str = "huber",
        huber_delta: float = 1.0,  # in standard deviations of the transformed target
        preprocessing: str = "snv",
        target_transform: str = "sqrt",  # log1p let a few extreme predictions blow up R² in ppb
        seed: int = 0,
    ):
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.l2 = l2
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.pca_components = pca_components
        self.architecture = architecture
        self.ensemble_size = ensemble_size
        self.loss = loss
        self.huber_delta = huber_delta
        self.preprocessing = preprocessing
        self.target_transform = target_transform
        self.seed = seed

    def _build(self, X: np.ndarray):
        keras = _keras()
        p = self.get_params()
        spectrum = keras.Input(shape=(X.shape[1],), name="spectrum")
        normalization = keras.layers.Normalization(name="band_scaling")
        normalization.adapt(X)
        scaled = normalization(spectrum)
        k = int(p["pca_components"])
        if p["architecture"] == "mlp" and k > 0:
            # A fixed linear layer holding the principal axes of the scaled training spectra: saved in the .keras
            # file like any other weight, so the projection can never be separated from the model.
            scaled_X = np.asarray(normalization(X.astype("float32")))
            _, _, vt = np.linalg.svd(scaled_X - scaled_X.mean(axis=0), full_matrices=False)
            k = min(k, len(vt))  # fewer bands (or rows) than components: all there are
            projection = keras.layers.Dense(k, use_bias=False, trainable=False, name="pca")
            projection.build((None, X.shape[1]))
            projection.set_weights([vt[:k].T.astype("float32")])
            scaled = projection(scaled)
        # Several members with their own weights side by side: each output column has its own loss term, so the
        # members learn independently (different initial weights and dropout), and their spread says how unsure
        # the ensemble is about a sample.
        members = [self._member(keras, scaled, index) for index in range(int(p["ensemble_size"]))]
        outputs = members[0] if len(members) == 1 else keras.layers.Concatenate(name="members")(members)
        model = keras.Model(spectrum, outputs, name=f"don_{p['architecture']}")
        loss = LOSSES[p["loss"]](keras, p["huber_delta"])
        model.compile(optimizer=keras.optimizers.Adam(p["learning_rate"]), loss=loss)
        return model

    def _member(self, keras, inputs, index: int):
        # Every layer is named explicitly: Keras' automatic names come from a per-thread counter, and a model built in
        # the app's training thread failed with 'The name "dense" is used 2 times in the model'.
        p = self.get_params()
        regularizer = keras.regularizers.l2(p["l2"])
        x = inputs
        if p["architecture"] == "cnn":
            # A small 1-D CNN over the bands: local absorption features, pooled, then the dense head.
            x = keras.layers.Reshape((-1, 1), name=f"m{index}_bands")(x)
            for j, (filters, width) in enumerate(((8, 9), (16, 7))):
                x = keras.layers.Conv1D(
                    filters, width, activation="relu", kernel_regularizer=regularizer, name=f"m{index}_conv{j}"
                )(x)
                x = keras.layers.MaxPooling1D(4, name=f"m{index}_pool{j}")(x)
            x = keras.layers.Flatten(name=f"m{index}_flatten")(x)
        for j, units in enumerate(p["hidden_units"]):
            x = keras.layers.Dense(units, activation="relu", kernel_regularizer=regularizer, name=f"m{index}_dense{j}")(
                x
            )
            x = keras.layers.Dropout(p["dropout"], name=f"m{index}_dropout{j}")(x)
        return keras.layers.Dense(1, name=f"don_{index}")(x)

    def _fit(self, X: np.ndarray, z: np.ndarray, progress: ProgressCallback) -> None:
        keras = _keras()
        p = self.get_params()
        keras.utils.set_random_seed(p["seed"])
        # The spectral preprocessing is the model's first fitted step, as in the forest's Pipeline.
        self.spectra_ = row_preprocessor(self.preprocessing, X.shape[1])
        Z = self.spectra_.transform(X)
        # The network learns the transformed target standardised; its mean and SD go to backend.json.
        self.fitted_numbers_ |= {"target_mean": float(z.mean()), "target_std": float(z.std() or 1.0)}
        z = (z - self.fitted["target_mean"]) / self.fitted["target_std"]
        z = np.repeat(z[:, None], int(p["ensemble_size"]), axis=1)  # the same target for every member

        # An inner validation split, drawn at random, decides when to stop; the test folds never see it.
        order = np.random.default_rng(p["seed"]).permutation(len(Z))
        n_val = max(1, round(len(Z) * p["validation_fraction"])) if len(Z) >= 10 else 0
        val, train = order[:n_val], order[n_val:]
        self.model_ = self._build(Z[train])
        self.model_.optimizer.build(self.model_.trainable_variables)
        epochs = int(p["epochs"])
        history = fit_with_early_stopping(
            self.model_,
            self.model_.loss,
            Z[train],
            z[train],
            Z[val] if n_val else None,
            z[val] if n_val else None,
            epochs=epochs,
            batch_size=int(p["batch_size"]),
            patience=int(p["patience"]),
            seed=int(p["seed"]),
            on_epoch=lambda done, loss: progress(done / epochs, f"epoch {done}/{epochs}"),
        )
        self.history_ = history
        # Scored from here on as a saved and reloaded model will be: an MLP by numpy, bit for bit the same.
        self.network_ = DenseNetwork.from_keras(self.model_, *self._layout()) if self._is_mlp() else self.model_
        progress(1.0, f"stopped after {len(self.history['loss'])} epochs")

    def _predict_transformed(self, X: np.ndarray) -> np.ndarray:
        return self.member_predictions(X).mean(axis=1)

    def _predict_with_difficulty(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The members run once: their mean is the prediction, their spread the difficulty."""
        members = self.member_predictions(X)
        return members.mean(axis=1), self._spread(members)

    def member_predictions(self, X: np.ndarray) -> np.ndarray:
        """Each member's prediction on the model's transformed target scale: (rows, members)."""
        X = np.asarray(X, dtype=float)
        z = np.empty((len(X), int(self.ensemble_size)))
        block = np.zeros((ROWS_PER_CALL, X.shape[1]), dtype="float32")
        for start in range(0, len(X), ROWS_PER_CALL):
            rows = slice(start, start + ROWS_PER_CALL)
            n = len(X[rows])
            block[:n] = self.spectra_.transform(X[rows])
            block[n:] = 0.0
            # A direct call, not model.predict(): no tf.function retracing per model, and faster for small batches.
            z[rows] = np.asarray(self.network_(block, training=False), dtype=float).reshape(ROWS_PER_CALL, -1)[:n]
        return z * self.fitted["target_std"] + self.fitted["target_mean"]

    def difficulty(self, X: np.ndarray) -> np.ndarray | None:
        """The spread of the members' predictions on the sqrt(ppb) scale, for an ensemble on a sqrt target."""
        if not self._has_spread():
            return None
        if len(X) == 0:
            return np.empty(0)
        return self._spread(self.member_predictions(X))

    def _has_spread(self) -> bool:
        return self.target_transform == "sqrt" and int(self.ensemble_size) >= 2

    def _spread(self, members: np.ndarray) -> np.ndarray | None:
        return members.std(axis=1) + DIFFICULTY_FLOOR if self._has_spread() else None

    def _save(self, directory: Path) -> None:
        if self.model_ is None:  # loaded without Keras: the trained network's file goes along unchanged
            shutil.copyfile(self.keras_file_, directory / MODEL_FILE)
        else:
            self.model_.save(directory / MODEL_FILE)
        if isinstance(self.network_, DenseNetwork):
            self.network_.save(directory / NETWORK_FILE)

    def _load(self, directory: Path) -> None:
        self.spectra_ = row_preprocessor(self.preprocessing, len(self.band_names))  # stateless: rebuilt by name
        self.keras_file_ = directory / MODEL_FILE
        if self._is_mlp() and (directory / NETWORK_FILE).exists():  # no TensorFlow needed to score
            self.model_, self.network_ = None, DenseNetwork.load(directory / NETWORK_FILE, *self._layout())
        else:  # a CNN, or a bundle saved before network.npz existed
            self.model_ = _keras().models.load_model(self.keras_file_, safe_mode=True, compile=False)
            self.network_ = self.model_

    def _is_mlp(self) -> bool:
        return self.architecture == "mlp"

    def _layout(self) -> tuple[int, int]:
        return len(self.hidden_units), int(self.ensemble_size)
