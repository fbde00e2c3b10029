"""Layout changes between the GEMM's row layout (N*P, F) and NCHW (N, F, P), P = OH*OW, fused
with the bias work that happens at the same moment:

    forward:  y[n, f, p] = y_rows[n*P + p, f] + b[f]              (bias add + transpose, one pass)
    backward: dy_rows[n*P + p, f] = dy[n, f, p],  db[f] = sum dy   (transpose + bias grad, one pass)
"""
import numpy as np

from .dispatch import compiled, use_numba


def rows_to_nchw_reference(y_rows, b, N, OH, OW):
    """(N*OH*OW, F) + b -> contiguous (N, F, OH, OW)."""
    F = y_rows.shape[1]
    out = (y_rows + b).reshape(N, OH * OW, F).transpose(0, 2, 1)
    return out.reshape(N, F, OH, OW).copy()


def nchw_to_rows_reference(dy):
    """(N, F, OH, OW) -> (dy_rows: (N*OH*OW, F), db: (F,))."""
    F = dy.shape[1]
    rows = dy.transpose(0, 2, 3, 1).reshape(-1, F).copy()
    return rows, rows.sum(axis=0)


def _rows_to_nchw_loops(y_rows, b, out):
    N, F, P = out.shape
    for n in range(N):
        for f in range(F):
            bias = b[f]
            for p in range(P):
                out[n, f, p] = y_rows[n * P + p, f] + bias


def _nchw_to_rows_loops(dy, rows, db):
    N, F, P = dy.shape
    for f in range(F):
        db[f] = 0
    for n in range(N):
        for f in range(F):
            total = dy[n, f, 0] - dy[n, f, 0]
            for p in range(P):
                v = dy[n, f, p]
                rows[n * P + p, f] = v
                total += v
            db[f] += total


_rows_to_nchw_numba = compiled(_rows_to_nchw_loops)
_nchw_to_rows_numba = compiled(_nchw_to_rows_loops)


def rows_to_nchw(y_rows, b, N, OH, OW):
    if not use_numba(y_rows):
        return rows_to_nchw_reference(y_rows, b, N, OH, OW)
    out = np.empty((N, y_rows.shape[1], OH * OW), y_rows.dtype)
    _rows_to_nchw_numba(y_rows, b, out)
    return out.reshape(N, -1, OH, OW)


def nchw_to_rows(dy):
    if not use_numba(dy):
        return nchw_to_rows_reference(dy)
    N, F, OH, OW = dy.shape
    rows = np.empty((N * OH * OW, F), dy.dtype)
    db = np.empty(F, dy.dtype)
    _nchw_to_rows_numba(np.ascontiguousarray(dy).reshape(N, F, OH * OW), rows, db)
    return rows, db
