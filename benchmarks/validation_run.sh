#!/bin/bash
# A short IC-LoRA run with validation videos and adherence, then synthgen-infer on the same held-out clips
# with the LoRA and without it, on a GPU machine; prints the summary of benchmarks/validation_summary.py.
#   bash benchmarks/validation_run.sh DATASET [OUT]
# DATASET: Blender-rendered motion_track shards, e.g.
#   synthgen-generate control=motion_track scene=tracked_objects camera=gentle dataset.num_clips=6 \
#     clip.width=128 clip.height=128 clip.num_frames=25 render.samples=16 output_dir=DATASET
# The wheels of this checkout and of what the machine lacks in .whl-n/ (docs/benchmarks.md).
set -u
R=$(pwd); DS=$(realpath "$1"); OUT=${2:-${OUT:-/tmp/out}}; W=/tmp/validation_run
mkdir -p "$W" "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$R"/.whl-n/*.whl >/dev/null
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
cd "$W"  # not the checkout: python -m would import its unmapped source folders
python3 -m synthgen.trainer.app +experiment=motion_track_small model=tiny data.path="$DS" data.eval_clips=2 \
  data.cache_dir="$W/cache" train.steps=200 train.validation.every=100 train.checkpoint_every=100 \
  train.device=cuda train.compile=false output_dir="$W/train" > "$W/train.log" 2>&1 || exit 1
python3 -m synthgen.trainer.infer_app infer=motion_track_small model=tiny data.path="$DS" data.eval_clips=2 \
  lora.path="$W/train/lora.safetensors" lora.baseline=true infer.device=cuda output_dir="$W/infer" \
  > "$W/infer.log" 2>&1 || exit 1
python3 "$R/benchmarks/validation_summary.py" "$W" | tee "$OUT/summary.json"
cp "$W/train/report.json" "$OUT/train_report.json"; cp "$W/infer/report.json" "$OUT/infer_report.json"
tar czf "$OUT/runs.tar.gz" train.log infer.log train/validation infer/*.png
