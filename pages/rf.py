from don_predictor.ui.frame import ensure_router
from don_predictor.ui.predict_page import render_predict_page

ensure_router()
render_predict_page(("rf",))
