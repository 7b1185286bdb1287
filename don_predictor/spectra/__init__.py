"""Spectra files in, one validated table out: the table type, the reader, the value checks, demo data."""
