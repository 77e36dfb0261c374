"""Self-conditioning (Liu et al. 2020): cluster an unlabelled image set and train a conditional GAN on the clusters.

A GAN trained on a small, varied set tends to draw its commonest kind of image and drop the rare ones. With
`self_condition K` the training images are grouped into K clusters by k-means (scikit-learn), and a
class-conditional model learns each cluster as a class; sampling then asks for every cluster equally, so rare
kinds of image are drawn as often as common ones.

The clusters are found in thumbnail space (metrics.pixels.thumbnails: 16x16, colour premultiplied by alpha),
chosen because it exists before any training (D's features would need a trained D and re-clustering as it
learns), it is deterministic, and it groups an emoji set by what differs most between its kinds: layout,
silhouette and colour. It is also the space the thumbnail measures use, which docs/art.md keeps in mind when it
reads coverage. The labels are written to the run folder (clusters.json) and read back when the run resumes, so
a resumed run trains on exactly the labels it started with, whatever scikit-learn version or thread count is
used then.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch

from ganvas.data import ImageDataset, to_model_range
from ganvas.errors import GanvasError, named
from ganvas.files import atomic_write_text
from ganvas.metrics.pixels import thumbnails

CLUSTERS_FILE = "clusters.json"
FEATURE_SPACE = "thumbnails-16"
KMEANS_STARTS = 10  # k-means restarts from k-means++ seeds; the best of them is kept


def cluster_labels(images: torch.Tensor, clusters: int, seed: int) -> np.ndarray:
    """k-means cluster of each uint8 image (N, C, H, W) in thumbnail space: int64 labels in [0, clusters), ordered by
    cluster size (0 the largest), so the labels read the same whichever seeding found them."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        raise GanvasError(f"{named('self_condition')} clusters the images with scikit-learn, which is not installed: "
                          "pip install 'ganvas[art]' (or scikit-learn)") from None
    if clusters > len(images):
        raise GanvasError(f"{named('self_condition')} {clusters} asks for more clusters than the {len(images)} "
                          "training images: choose fewer")
    features = thumbnails(to_model_range(images))
    found = KMeans(n_clusters=clusters, n_init=KMEANS_STARTS, random_state=seed).fit_predict(features)
    sizes = np.bincount(found, minlength=clusters)
    rank = np.empty(clusters, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(clusters)
    return rank[found]


def self_conditioned(dataset: ImageDataset, clusters: int, seed: int, saved_in: Path | None = None) -> ImageDataset:
    """The training images labelled by cluster: read from the run folder `saved_in` (a resumed run), else found."""
    if saved_in is not None:
        labels = read_clusters(saved_in, len(dataset), clusters)
    else:
        labels = cluster_labels(dataset.images, clusters, seed)
    return dataclasses.replace(dataset, labels=torch.from_numpy(labels), num_classes=clusters,
                               class_names=[f"cluster {index}" for index in range(clusters)])


def write_clusters(run_dir: Path, dataset: ImageDataset) -> None:
    """The run's cluster labels, one per training image in the order the data set loads them."""
    labels = dataset.labels.tolist()
    record = {"feature_space": FEATURE_SPACE, "clusters": dataset.num_classes,
              "sizes": np.bincount(labels, minlength=dataset.num_classes).tolist(), "labels": labels}
    atomic_write_text(Path(run_dir) / CLUSTERS_FILE, json.dumps(record) + "\n")


def read_clusters(run_dir: Path, count: int, clusters: int) -> np.ndarray:
    path = Path(run_dir) / CLUSTERS_FILE
    try:
        record = json.loads(path.read_text())
        labels = np.asarray(record["labels"], dtype=np.int64)
        ok = record["clusters"] == clusters and labels.shape == (count,) and ((0 <= labels) & (labels < clusters)).all()
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise GanvasError(f"{path} does not hold this run's {clusters} cluster labels for {count} images (missing, "
                          "damaged, or the images changed): the run cannot resume on the labels it trained with; "
                          "start it again")
    return labels
