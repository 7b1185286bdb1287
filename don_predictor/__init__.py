"""DON Predictor: deoxynivalenol (vomitoxin) in corn, in ppb, from hyperspectral reflectance spectra."""

__version__ = "0.1.0"
