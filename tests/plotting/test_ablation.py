"""The ablation figure: one panel per OOD set."""
from PIL import Image

from numpyuq.plotting import plot_ablation


def test_one_panel_per_ood_set(tmp_path):
    heads, maps = ["softmax", "GP"], ["plain", "SN"]
    cells = {(m, h): (0.5 + 0.1 * i, 0.05) for i, (m, h) in enumerate((m, h) for m in maps for h in heads)}
    one = plot_ablation({"blob": cells}, heads, maps, tmp_path / "one.png")
    three = plot_ablation({"blob": cells, "near": cells, "ring": cells}, heads, maps, tmp_path / "three.png",
                          title="t")
    (w1, h1), (w3, h3) = Image.open(one).size, Image.open(three).size
    assert 2.5 < w3 / w1 < 3.5 and h1 == h3
