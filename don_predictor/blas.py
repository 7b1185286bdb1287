"""BLAS threads for small matrix products (the domain statistics, the numpy networks)."""

from __future__ import annotations

_controller = None


def one_blas_thread():
    """BLAS on one thread for small matrix products: handing 256 x 448 blocks to several threads cost more than the
    products (20 ms a block instead of 1 on two busy cores). Parallel work is split by rows at a higher level."""
    global _controller
    if _controller is None:  # threadpoolctl inspects the loaded libraries once, on first use
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
