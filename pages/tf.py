from don_predictor.ui.predict_page import render_predict_page

render_predict_page("tf")
