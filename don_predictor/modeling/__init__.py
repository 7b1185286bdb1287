"""The models: backends, spectral preprocessing, cross-validation, training and band importance."""
