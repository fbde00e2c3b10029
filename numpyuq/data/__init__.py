"""Datasets: two moons (the SNGP seed) and MNIST-format images (the EDL seed)."""
from .datasets import ImageData, load_digits28, load_fashion_mnist, load_mnist
from .idx import load_idx, save_idx
from .moons import make_grid, make_moons_data, make_ood_data, make_ring_data

__all__ = ["make_moons_data", "make_grid", "make_ood_data", "make_ring_data", "load_idx", "save_idx", "ImageData",
           "load_digits28", "load_mnist", "load_fashion_mnist"]
