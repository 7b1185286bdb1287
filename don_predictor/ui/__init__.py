"""Streamlit pieces shared by the pages. The only part of don_predictor that imports streamlit."""
