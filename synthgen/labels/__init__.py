"""Exact labels from a spec, in float64 numpy: frames and projections (``geometry``), camera moves
(``camera``), object paths (``motion``) and the whole clip's labels (``compute``)."""

from synthgen.labels.compute import ClipLabels, ObjectPoses, compute_labels

__all__ = ["ClipLabels", "ObjectPoses", "compute_labels"]
