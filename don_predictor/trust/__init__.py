"""How far to trust each prediction: conformal prediction intervals, the applicability domain (both in bundle.py
as a model carries them), the limits users screen against and the screening verdicts (screening.py).

Both are fitted at training time, saved in the model bundle as plain arrays (no pickle) and applied to every
prediction.

- Intervals: split-conformal on out-of-fold residuals on the square-root scale, divided by the model's own
  difficulty estimate where it has one (RF: the spread of its trees). DON errors grow with the
  concentration, so a fixed width in sqrt(ppb) gives intervals that are narrower for clean samples than for
  contaminated ones. (On the real dev data, log1p residuals of the many zero-DON samples made log-scale intervals
  50 times wider for the same 90 % coverage.)
- Applicability domain: a PCA model of the raw training spectra with Hotelling T² (is the spectrum an unusual mix of
  the known shapes?), Q residuals (does it have a shape the training set never had?) and a baseline statistic (has
  a flat offset been added, as a drifted reference would?). Limits come from held-out folds of the training
  spectra, set so that together they flag about 3.5 % of genuine new samples.
  Written with numpy rather than chemotools' HotellingT2/QResiduals: those wrap a fitted scikit-learn PCA that we
  would have to pickle, and the bundle stays pickle-free this way."""
