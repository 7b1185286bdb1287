# DON Predictor: one container running the Streamlit app.
# Builder: installs into a virtualenv and trains the default demo models. Runtime: slim, non-root, copies both.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY don_predictor/ don_predictor/
COPY data/ data/
RUN python -m don_predictor train --data data/demo_calibration.csv --backend all --models-dir /app/models

FROM python:3.11-slim AS runtime
# Settings: see README.md. No secrets here: pass DON_PASSWORD_HASH at run time or mount .streamlit/secrets.toml.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HOME=/home/don \
    DON_MODELS_DIR=/app/models \
    DON_HISTORY_DB=/app/history/history.sqlite \
    DON_LOG_LEVEL=INFO \
    STREAMLIT_SERVER_PORT=8501 \
    STREAMLIT_SERVER_ADDRESS=0.0.0.0
RUN groupadd --gid 10001 don && useradd --create-home --uid 10001 --gid 10001 don \
    && mkdir -p /app/history && chown 10001:10001 /app/history
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY --chown=10001:10001 app.py ./
COPY --chown=10001:10001 pages/ pages/
COPY --chown=10001:10001 don_predictor/ don_predictor/
COPY --chown=10001:10001 data/ data/
COPY --chown=10001:10001 .streamlit/config.toml .streamlit/config.toml
COPY --from=builder --chown=10001:10001 /app/models /app/models
USER 10001:10001
EXPOSE 8501
VOLUME ["/app/models", "/app/history"]
# Readiness (/readyz): healthy only when a model can score, its files verified (README, Container). The slim image
# has no curl: the probe is a few lines of Python.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "don_predictor.probe", "http://127.0.0.1:8501/readyz"]
CMD ["streamlit", "run", "don_predictor/ui/server.py"]
