"""The synthetic demo data: deterministic, shaped like the real set, the committed files current."""

from __future__ import annotations

import numpy as np
from conftest import ROOT

from don_predictor.spectra.demo import N_BANDS, demo_frame
from don_predictor.spectra.reader import read_spectra


def test_demo_generation_is_deterministic():
    assert demo_frame(20, seed=3, id_prefix="x", with_target=True).equals(
        demo_frame(20, seed=3, id_prefix="x", with_target=True)
    )


def test_committed_demo_files_match_the_generator(demo_dir):
    for name in ("demo_calibration.csv", "demo_upload.csv"):
        assert (ROOT / "data" / name).read_bytes() == (demo_dir / name).read_bytes(), f"run make data: {name} is stale"
        assert (demo_dir / name).stat().st_size < 3_000_000


def test_demo_looks_like_corn_reflectance(demo_table, demo_upload):
    assert demo_table.n_rows == 500 and len(demo_table.band_names) == N_BANDS and demo_table.problems == []
    assert 0.1 < demo_table.X.min() and demo_table.X.max() < 1.3
    mean = demo_table.X.mean(axis=0)
    assert mean[40] < mean[0] < mean[300]  # dip in the visible, plateau in the near infrared
    y = demo_table.target
    assert 0.1 < (y == 0).mean() < 0.3  # zero-inflated
    assert np.median(y) < y.mean() and y.max() > 50_000  # right-skewed with a long tail
    upload = read_spectra(demo_upload)
    assert upload.n_rows == 50 and upload.target is None and upload.problems == []
