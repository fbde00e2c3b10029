"""Hot loops.  Each numba kernel sits beside its plain xp reference, which serves CuPy and is the test oracle."""
