#!/usr/bin/env bash
# Trains the demo models on the shape world, start to finish (see training/README.md):
#   bash training/train-demo.sh OUT_DIR [GLAMM_STEPS]
# Needs Debian's python3-torch, python3-numpy and python3-pil (apt-get install), and bun (the project's npx bun).
# Two jobs at a time, one thread each, at the lowest CPU priority; seeded, so the same command gives the same
# checkpoints; run again after an interruption, every stage resumes from its last save.
set -euo pipefail
out=${1:?usage: bash training/train-demo.sh OUT_DIR [GLAMM_STEPS]}
steps=${2:-4500}
python=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
stage() { nice -n 19 "$python" "training/$1" --data "$out/data" --seed 0 --threads 1 "${@:2}"; }

[ -f "$out/init/glamm/model.safetensors" ] || npx bun training/init-checkpoint.ts "$out/init" 0
[ -f "$out/data/scenes.jsonl" ] || npx bun training/export-dataset.ts --tokenizer "$out/init/glamm" --out "$out/data" --seed 1 --scenes 2000

# Stages 1 and 2 train disjoint tensors (CLIP + projector + lm_head; SAM) from the same init: side by side.
stage pretrain_sam.py --init "$out/init" --out "$out/sam" --steps "${SAM_STEPS:-2000}" &
sam=$!
stage pretrain_vision.py --init "$out/init" --out "$out/vision" --steps "${VISION_STEPS:-2000}" --lr 5e-4
wait "$sam"

# The attend backend's models (their own CLIP, LLaVA and SAM) beside the main stage.
stage train_attend.py --init "$out/init" --out "$out/attend-demo" --steps "${ATTEND_STEPS:-3000}" &
attend=$!
stage train_glamm.py --init "$out/vision" --sam "$out/sam" --out "$out/glamm-demo" --steps "$steps"
wait "$attend"
echo "GLaMM: $out/glamm-demo/glamm (vision tower $out/glamm-demo/clip)"
echo "attend backend: --model $out/attend-demo/llava-demo --sam $out/attend-demo/sam_demo.pth"
