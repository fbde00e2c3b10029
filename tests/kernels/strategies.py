"""hypothesis strategies shared by the kernel tests: convolution and pooling geometries."""
from hypothesis import strategies as st


@st.composite
def conv_geometry(draw):
    """(N, H, W, C), KH, KW, stride, padding with at least one output pixel."""
    KH, KW = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 3))
    H = draw(st.integers(max(1, KH - 2 * padding), 12))
    W = draw(st.integers(max(1, KW - 2 * padding), 12))
    return (draw(st.integers(1, 3)), H, W, draw(st.integers(1, 6))), KH, KW, stride, padding


@st.composite
def pool_geometry(draw):
    """(N, H, W, C), size, stride with at least one output pixel."""
    size, stride = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(size, 11)), draw(st.integers(size, 11))
    return (draw(st.integers(1, 3)), H, W, draw(st.integers(1, 5))), size, stride
