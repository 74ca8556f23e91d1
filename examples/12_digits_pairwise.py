"""A pairwise Earth-Mover matrix of handwritten digits, clustered and plotted.

Each 8 x 8 image of scikit-learn's digits (bundled with scikit-learn, no download) is a
histogram of ink on the 64 pixel centres; the ground cost between two pixels is their
Euclidean distance, so W_1 between two images is the least ink-times-distance that turns one
into the other. `pairwise_wasserstein(H, M=M)` solves the N (N - 1) / 2 exact LPs (`emd` batches
of the pairs' weights on M). An average-linkage clustering of that matrix into 10 groups is compared with the
same clustering on the Euclidean (pixel-by-pixel) distance: the adjusted Rand index against
the true labels says which distance groups the digits better. The figure shows the W_1 matrix
ordered by label and a 2-D classical MDS embedding of it.

With `--dask`, the same matrix is computed again on a 2-worker Dask LocalCluster of threads
(`client=client`) and checked identical.
"""
import os
import sys
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.cluster.hierarchy import fcluster, linkage  # noqa: E402
from scipy.spatial.distance import cdist, pdist, squareform  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from kantorovich.ot import pairwise_wasserstein  # noqa: E402

digits = load_digits()
rng = np.random.default_rng(0)
per_class = 12
idx = np.concatenate([rng.choice(np.flatnonzero(digits.target == d), per_class, replace=False)
                      for d in range(10)])
H = digits.images[idx].reshape(len(idx), 64)  # ink in 0..16 per pixel
labels = digits.target[idx]
grid = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij"), -1).reshape(64, 2)
M = cdist(grid, grid)  # pixel-to-pixel distance, in pixels

W = pairwise_wasserstein(H, M=M)  # normalised histograms: W_1 in pixels
print(f"{len(H)} digits, {len(H) * (len(H) - 1) // 2} exact LPs")
same = labels[:, None] == labels[None, :]
off = ~np.eye(len(H), dtype=bool)
print(f"mean W_1 within a digit {W[same & off].mean():.3f} px, between digits {W[~same].mean():.3f} px")

E = squareform(pdist(H / H.sum(1, keepdims=True)))  # Euclidean on the same normalised images
for name, D in (("W_1", W), ("Euclidean", E)):
    groups = fcluster(linkage(squareform(D, checks=False), "average"), 10, "maxclust")
    print(f"average linkage into 10 clusters on {name:9s}: adjusted Rand index "
          f"{adjusted_rand_score(labels, groups):.3f}")

if "--dask" in sys.argv:
    from distributed import Client, LocalCluster

    # thread workers: a cluster of worker processes started from a script needs the script's
    # body under `if __name__ == "__main__":` (the processes re-import it)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        W2 = pairwise_wasserstein(H, M=M, client=client)
    print(f"on a 2-worker Dask cluster: identical = {np.array_equal(W, W2)}")

# classical MDS: the top two eigenvectors of the double-centred squared distances
J = np.eye(len(W)) - 1.0 / len(W)
vals, vecs = np.linalg.eigh(-0.5 * J @ (W ** 2) @ J)
Z = vecs[:, -2:] * np.sqrt(np.maximum(vals[-2:], 0.0))

fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 4.4))
im = a0.imshow(W, cmap="viridis")
ticks = np.arange(per_class / 2, len(W), per_class)
a0.set_xticks(ticks, range(10))
a0.set_yticks(ticks, range(10))
a0.set_title("W_1 between digit images (pixels), ordered by label")
fig.colorbar(im, ax=a0, shrink=0.8)
for d in range(10):
    pts = Z[labels == d]
    a1.scatter(pts[:, 0], pts[:, 1], s=12, color=plt.cm.tab10(d))
    a1.annotate(str(d), pts.mean(0), fontsize=14, weight="bold", color=plt.cm.tab10(d))
a1.set_title("classical MDS of the W_1 matrix")
a1.set_xticks([])
a1.set_yticks([])
fig.tight_layout()
out = os.environ.get("KANTOROVICH_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="kantorovich_examples_")
path = os.path.join(out, "digits_pairwise.png")
fig.savefig(path, dpi=80)
print(f"figure: {path}")
