"""Boxes and per-pixel labels in the dataset: written by the pipeline, read back with their dtypes, checked by
``synthgen validate`` (shapes against num_frames/height/width, element types), absent when off."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from synthgen.dataset import ClipRow, VideoEncoding, iter_rows, write_dataset
from synthgen.dataset.schema import LABEL_DIMS, LABEL_DTYPES
from synthgen.dataset.testing import example_row
from synthgen.dataset.validate import validate_dataset
from synthgen.describe.sampling import sample_clip
from synthgen.describe.spec import ClipSpec
from synthgen.pipeline.clip import make_row
from tests.conftest import tiny_config

DENSE = (
    "flow_forward_px",
    "flow_backward_px",
    "flow_forward_occluded",
    "flow_backward_occluded",
    "object_coordinates",
    "normals_world",
    "depth_m",
    "instance_ids",
)
BOXES = ("box_bounds_local", "boxes_3d_world_m", "boxes_projected_xyxy_px", "boxes_visible_xyxy_px")


def _write(root: Path, rows: list[ClipRow]) -> Path:
    write_dataset(iter(rows), root, num_clips=len(rows), encoding=VideoEncoding(lossless=True))
    return root


def _dense_labels(frames: int, height: int, width: int, objects: int) -> dict[str, np.ndarray]:
    labels = {}
    for name in DENSE + BOXES:
        shape = tuple(
            {"F": frames, "H": height, "W": width, "N": objects}.get(dim, dim)
            if isinstance(dim, str)
            else dim
            for dim in LABEL_DIMS[name]
        )
        labels[name] = np.zeros(shape, dtype=LABEL_DTYPES[name])
    return labels


def test_every_new_label_is_documented_with_dims_and_dtype() -> None:
    assert set(DENSE + BOXES) <= set(LABEL_DIMS) and set(DENSE + BOXES) <= set(LABEL_DTYPES)
    docs = (Path(__file__).parents[1] / "docs" / "schema.md").read_text()
    for name in DENSE + BOXES:
        assert f"`{name}`" in docs


def test_per_pixel_labels_round_trip_with_their_compact_dtypes(tmp_path: Path) -> None:
    row = example_row(0)
    labels = _dense_labels(row.num_frames, row.height, row.width, 2)
    labels["flow_forward_px"][:] = np.float16(1.2345)
    labels["flow_forward_px"][-1] = np.nan
    root = _write(tmp_path / "ds", [row.replace(labels={**row.labels, **labels})])
    assert validate_dataset(root).ok
    back = next(iter_rows(root)).labels
    for name in DENSE + BOXES:
        assert back[name].dtype == labels[name].dtype and back[name].shape == labels[name].shape, name
    np.testing.assert_array_equal(back["flow_forward_px"], labels["flow_forward_px"])


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("flow_forward_px", lambda a: a[:, :32], "axis 1 (H) is 32, but height says 64"),
        ("normals_world", lambda a: a[..., :, :63, :], "axis 2 (W) is 63, but width says 64"),
        ("depth_m", lambda a: a[:8], "axis 0 (F) is 8, but num_frames says 9"),
        ("flow_backward_px", lambda a: a.astype(np.float32), "has dtype float32, expected float16"),
        ("boxes_3d_world_m", lambda a: a[:1], "axis 0 (N) is 1, but"),
    ],
)
def test_validate_names_a_per_pixel_or_box_label_of_the_wrong_shape_or_dtype(
    tmp_path: Path, name: str, change: object, message: str
) -> None:
    row = example_row(0)
    labels = _dense_labels(row.num_frames, row.height, row.width, 2)
    assert callable(change)
    labels[name] = change(labels[name])
    report = validate_dataset(_write(tmp_path / "ds", [row.replace(labels={**row.labels, **labels})]))
    assert any(f"label_{name}" in problem and message in problem for problem in report.problems), (
        report.problems
    )


@pytest.mark.blender
def test_pipeline_rows_carry_boxes_always_and_per_pixel_labels_when_asked(tmp_path: Path) -> None:
    plain = make_row(tiny_config(dataset={"num_clips": 1}), 0)
    assert set(BOXES) <= set(plain.labels) and not set(DENSE) & set(plain.labels)
    cfg = tiny_config(dataset={"num_clips": 1}, render={"dense_labels": True})
    row = make_row(cfg, 0)
    frames, height, width = row.num_frames, row.height, row.width
    assert row.labels["flow_forward_px"].shape == (frames, height, width, 2)
    assert row.labels["normals_world"].dtype == np.float16
    assert np.isnan(row.labels["flow_forward_px"][-1]).all() and row.labels["flow_forward_occluded"][-1].all()
    # Everything the spec rendered is labelled consistently: the row's ids are the render's objects.
    assert set(np.unique(row.labels["instance_ids"])) <= {0, *row.labels["object_ids"].tolist()}
    root = _write(tmp_path / "ds", [row])
    report = validate_dataset(root)
    assert report.ok, report.problems


def test_a_spec_written_before_dense_labels_existed_still_parses_without_them() -> None:
    spec = sample_clip(tiny_config(), 0)
    old = json.loads(spec.to_json())
    del old["render"]["dense_labels"]
    parsed = ClipSpec.from_json(json.dumps(old))
    assert parsed.render.dense_labels is False and parsed.objects == spec.objects


def test_label_columns_are_written_zstd_compressed_and_media_are_not(tmp_path: Path) -> None:
    row = example_row(0, audio_sample_rate=None)
    labels = _dense_labels(row.num_frames, row.height, row.width, 2)
    root = _write(tmp_path / "ds", [row.replace(labels={**row.labels, **labels})])
    metadata = pq.ParquetFile(next((root / "data").glob("*.parquet"))).metadata.row_group(0)
    codecs = {
        metadata.column(i).path_in_schema.split(".")[0]: metadata.column(i).compression
        for i in range(metadata.num_columns)
    }
    assert codecs["video"] == "UNCOMPRESSED"
    assert {
        name: codec for name, codec in codecs.items() if name.startswith("label_") and codec != "ZSTD"
    } == {}
