"""OpenTelemetry tracing: spans for what a user waits on. Off by default; on when the standard variables name a
collector (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), over OTLP HTTP (default) or gRPC
(OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL=grpc). OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keep it off.

Span attributes are counts, backends, model versions and limits: never sample ids, run ids, file or user names.
Without setup (tracing off) every span is OpenTelemetry's no-op span: no cost beyond a function call.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Status, StatusCode

TRACER_NAME = "don_predictor"
_lock = threading.Lock()
_provider = None  # set once per process: Streamlit reruns the page scripts, which must not add exporters
# Streamlit's st.stop() and reruns are control flow, not failures.
_CONTROL_FLOW = {"StopException", "RerunException"}


def enabled_by_environment(env: os._Environ | dict = os.environ) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def _exporter():
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip().lower() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()  # endpoint, headers, timeout, TLS: from the OTEL_* variables


def setup_tracing(service_name: str = "don-predictor") -> bool:
    """Idempotent: the first call in a process sets the tracer provider (when the environment turns tracing on);
    later calls return whether it is on. OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override the resource."""
    global _provider
    with _lock:
        if _provider is not None:
            return True
        if not enabled_by_environment():
            return False
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from don_predictor import __version__

        resource = Resource.create({SERVICE_NAME: service_name, "service.version": __version__})
        provider = TracerProvider(resource=resource)  # reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES too
        provider.add_span_processor(BatchSpanProcessor(_exporter()))
        trace.set_tracer_provider(provider)  # flushed at exit: the SDK registers its own shutdown
        _provider = provider
        return True


def flush(timeout_s: float = 5.0) -> None:
    """Send the spans still buffered (a Dask worker may be stopped without running its exit handlers)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_s * 1000))


@contextlib.contextmanager
def span(name: str, parent: dict | None = None, **attributes) -> Iterator[trace.Span]:
    """A span around the block, child of the current one (or of `parent`, a carrier from `carrier()`); None
    attribute values are left out. An exception marks it failed; Streamlit's st.stop() does not."""
    context = propagate.extract(parent) if parent is not None else None
    tracer = trace.get_tracer(TRACER_NAME)
    kept = {key: value for key, value in attributes.items() if value is not None}
    with tracer.start_as_current_span(
        name, context=context, attributes=kept, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield current
        except BaseException as error:
            if type(error).__name__ not in _CONTROL_FLOW:
                current.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise


def carrier() -> dict[str, str]:
    """The current trace context as plain strings (W3C traceparent), to carry to a thread, process or Dask task."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@contextlib.contextmanager
def attached(headers: dict[str, str] | None) -> Iterator[None]:
    """Run the block inside the trace context of `carrier()`'s result (another thread's)."""
    if not headers:
        yield
        return
    token = otel_context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def current_trace_id() -> str | None:
    """The current span's trace id in hex, for log lines; None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
