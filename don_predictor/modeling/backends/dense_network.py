"""The TF backend's MLP evaluated with numpy, so that scoring with a saved model needs no TensorFlow.

Importing TensorFlow and loading the .keras file took about 4 s of every run that scored with TF: more than the
network's arithmetic on 100,000 spectra. Training still uses Keras; at save time the fitted weights are also written
here (network.npz, plain arrays, no pickle), and a bundle without that file (older ones, the CNN) loads with Keras.
The arithmetic is Keras' own in float32: band scaling, the fixed PCA projection, then each member's dense layers
(ReLU; dropout is off at inference) and its linear output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from don_predictor.blas import one_blas_thread

NETWORK_FILE = "network.npz"
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): the Normalization layer's floor on a band's standard deviation


def row_products(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """x @ weights, each row's result independent of the rows beside it. OpenBLAS' sgemm is not: on some CPUs a
    row's last digits depend on its position in the block (its micro-kernel tile), so a spectrum scored in another
    batch differed at the 6th significant digit. einsum without `optimize` sums each row's products in its own loop;
    at ~4 ms per 2,048 rows for the widest product it is still far from the cost of reading a file."""
    return np.einsum("nk,km->nm", x, weights)


@dataclass(frozen=True)
class Layer:
    kernel: np.ndarray
    bias: np.ndarray
    relu: bool

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = row_products(x, self.kernel) + self.bias
        return np.maximum(out, 0.0, out=out) if self.relu else out


@dataclass(frozen=True)
class DenseNetwork:
    mean: np.ndarray  # band scaling, as adapted on the training spectra
    scale: np.ndarray
    projection: np.ndarray | None  # the principal axes (bands, components), or None without PCA
    members: list[list[Layer]]

    def __call__(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """(rows, members) on the network's standardised target scale, as the Keras model returns it."""
        # One BLAS thread: these products are small, and threads handed them cost 3x their arithmetic.
        with one_blas_thread():
            x = (np.asarray(X, dtype=np.float32) - self.mean) / self.scale
            if self.projection is not None:
                x = row_products(x, self.projection)
            outputs = []
            for layers in self.members:
                h = x
                for layer in layers:
                    h = layer(h)
                outputs.append(h)
            return np.concatenate(outputs, axis=1)

    @classmethod
    def from_keras(cls, model, hidden_layers: int, members: int) -> DenseNetwork:
        """The weights of a model built by TensorFlowBackend._build (MLP), found by their layer names."""
        mean, variance = (np.asarray(w, dtype=np.float32) for w in model.get_layer("band_scaling").get_weights()[:2])
        try:
            projection = np.asarray(model.get_layer("pca").get_weights()[0], dtype=np.float32)
        except ValueError:  # no PCA layer
            projection = None

        def dense(name: str, relu: bool) -> Layer:
            kernel, bias = model.get_layer(name).get_weights()
            return Layer(np.asarray(kernel, np.float32), np.asarray(bias, np.float32), relu)

        stacks = [
            [dense(f"m{i}_dense{j}", True) for j in range(hidden_layers)] + [dense(f"don_{i}", False)]
            for i in range(members)
        ]
        scale = np.maximum(np.sqrt(variance), np.float32(KERAS_EPSILON)).reshape(1, -1)
        return cls(mean.reshape(1, -1), scale, projection, stacks)

    def save(self, path: Path) -> None:
        arrays = {"mean": self.mean, "scale": self.scale}
        if self.projection is not None:
            arrays["projection"] = self.projection
        for i, layers in enumerate(self.members):
            for j, layer in enumerate(layers):
                arrays[f"m{i}_{j}_kernel"], arrays[f"m{i}_{j}_bias"] = layer.kernel, layer.bias
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path, hidden_layers: int, members: int) -> DenseNetwork:
        with np.load(path, allow_pickle=False) as saved:
            stacks = [
                [
                    Layer(saved[f"m{i}_{j}_kernel"], saved[f"m{i}_{j}_bias"], relu=j < hidden_layers)
                    for j in range(hidden_layers + 1)
                ]
                for i in range(members)
            ]
            projection = saved["projection"] if "projection" in saved.files else None
            return cls(saved["mean"], saved["scale"], projection, stacks)
