"""Pictures the grader draws itself from numbers a student's functions returned (activation and saliency maps)."""

from __future__ import annotations

import io

import numpy as np

# The checks run Task 4 on a ResNet18 with seeded random weights (no pretrained weights are downloaded),
# so a figure from them must not read as if the class names or the features were meaningful.
RANDOM_WEIGHTS_CAPTION = (" (on a ResNet18 with seeded random weights, not ImageNet's: the maps show no learned "
                          "features, and class numbers such as 243 and 285 only pick two of its outputs)")


def _png(fig: object) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return palette_png(buffer.getvalue())


def palette_png(png: bytes) -> bytes:
    """The picture as a 256-colour PNG: about a third of the bytes (the reference's maps: 430 kB become 125 kB).

    Every report embeds its figures, and Moodle's feedback zip carries one report per student: smaller
    figures keep each report self-contained and the zip under the upload limit. Heat maps and plots
    lose no detail a reader sees at 256 colours.
    """
    from PIL import Image

    picture = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    picture.quantize(256, method=Image.Quantize.FASTOCTREE).save(out, "PNG", optimize=True)
    return out.getvalue()


def photo_rgb(image: np.ndarray) -> np.ndarray:
    """An ImageNet-normalized (3, H, W) image as displayable RGB in [0, 1]."""
    mean = np.array([0.485, 0.456, 0.406])[:, None, None]
    std = np.array([0.229, 0.224, 0.225])[:, None, None]
    return np.clip(image * std + mean, 0, 1).transpose(1, 2, 0)


def activation_grid(activations: dict[str, np.ndarray], photo: np.ndarray, channels: int = 8) -> bytes:
    """The first channels of each captured activation, a row per layer, and the mean map over the photo."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spatial = {k: v[0] for k, v in activations.items() if v.ndim == 4 and v.shape[-1] > 1}
    rows = max(1, len(spatial))
    fig, axes = plt.subplots(rows, channels + 1, figsize=(1.6 * (channels + 1), 1.7 * rows), squeeze=False)
    rgb = photo_rgb(photo)
    for row, (name, act) in zip(axes, spatial.items()):
        for c, ax in enumerate(row[:channels]):
            if c < act.shape[0]:
                ax.imshow(act[c], cmap="viridis")
            ax.axis("off")
        row[0].set_title(f"{name} {list(act.shape)}", fontsize=8, loc="left")
        mean = act.mean(axis=0)
        row[-1].imshow(rgb)
        row[-1].imshow(np.kron(mean, np.ones((rgb.shape[0] // mean.shape[0], rgb.shape[1] // mean.shape[1]))),
                       cmap="jet", alpha=0.45, extent=(0, rgb.shape[1], rgb.shape[0], 0))
        row[-1].set_title("mean, overlaid", fontsize=8)
        row[-1].axis("off")
    fig.tight_layout()
    return _png(fig)


def saliency_row(photos: np.ndarray, maps: np.ndarray, labels: list[str]) -> bytes:
    """Each photo beside its saliency map."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(maps)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 5.2), squeeze=False)
    for i in range(n):
        axes[0][i].imshow(photo_rgb(photos[i]))
        axes[0][i].set_title(labels[i], fontsize=9)
        axes[1][i].imshow(maps[i], cmap="hot")
        for ax in (axes[0][i], axes[1][i]):
            ax.axis("off")
    fig.tight_layout()
    return _png(fig)
