"""A real OTLP/HTTP receiver (oteltap's native one) on a free port, run on its own event loop in a thread, collecting
every span it receives, for the tracing tests."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from appserver import free_port


class Spans:
    def __init__(self) -> None:
        self.received: list = []  # opentelemetry.proto.trace.v1.trace_pb2.Span
        self._lock = threading.Lock()

    def add(self, span) -> None:
        with self._lock:
            self.received.append(span)

    def wait_for(self, done: Callable[[list], bool], timeout: float = 30.0) -> list:
        """The spans once done(spans) holds; AssertionError with the names seen after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.received)
            if done(spans):
                return spans
            assert time.monotonic() < deadline, f"spans received: {sorted(s.name for s in spans)}"
            time.sleep(0.1)


@contextlib.contextmanager
def otlp_receiver() -> Iterator[tuple[str, Spans]]:
    """Yields (the OTLP/HTTP endpoint for OTEL_EXPORTER_OTLP_ENDPOINT, the spans received)."""
    from oteltap import OtelTapHttpProtobufReceiver, OtelTapHttpProtobufReceiverSettings

    port, spans = free_port(), Spans()
    loop = asyncio.new_event_loop()
    ready, stop = threading.Event(), asyncio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        try:
            async with OtelTapHttpProtobufReceiver(OtelTapHttpProtobufReceiverSettings(http_port=port)) as receiver:

                async def collect() -> None:
                    async for span in receiver.stream_traces():
                        spans.add(span)

                task = asyncio.create_task(collect())
                await asyncio.sleep(0)  # the stream subscribes before anyone sends
                ready.set()
                await stop.wait()
                task.cancel()
        except BaseException as error:
            failure.append(error)
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    ready.wait(30)
    if failure:
        raise failure[0]
    try:
        yield f"http://127.0.0.1:{port}", spans
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


def children(spans: list, parent) -> list:
    return [s for s in spans if s.parent_span_id == parent.span_id and s.trace_id == parent.trace_id]


def attributes(span) -> dict:
    values = {}
    for item in span.attributes:
        value = item.value
        values[item.key] = getattr(value, value.WhichOneof("value"))
    return values
