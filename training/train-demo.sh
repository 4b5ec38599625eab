#!/usr/bin/env bash
# Trains the demo models on the shape world, start to finish (see training/README.md):
#   bash training/train-demo.sh OUT_DIR [GLAMM_STEPS]
# Needs Debian's python3-torch, python3-numpy and python3-pil (apt-get install), and bun (the project's npx bun).
# Two jobs at a time, one thread each, at the lowest CPU priority; seeded, so the same command gives the same
# checkpoints; run again after an interruption, every stage resumes from its last save.
set -euo pipefail
out=${1:?usage: bash training/train-demo.sh OUT_DIR [GLAMM_STEPS]}
steps=${2:-4000}
python=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
# Debian's torch multiplies with OpenBLAS, whose own thread pool ignores torch's --threads: two jobs with two spinning
# OpenBLAS threads each on two cores ran 1.7 times slower than with one each.
export OPENBLAS_NUM_THREADS=1
stage() { nice -n 19 "$python" "training/$1" --data "$out/data" --seed 0 --threads 1 "${@:2}"; }

[ -f "$out/init/glamm/model.safetensors" ] || npx bun training/init-checkpoint.ts "$out/init" 0
[ -f "$out/init-wide/glamm/model.safetensors" ] || npx bun training/init-checkpoint.ts "$out/init-wide" 0 --wide
[ -f "$out/data/scenes.jsonl" ] || npx bun training/export-dataset.ts --tokenizer "$out/init/glamm" --out "$out/data" --seed 1 --scenes 2000

# The vision stage (CLIP + projector + lm_head) on one core; SAM, then the attend backend's models (their own CLIP,
# LLaVA and SAM) on the other: they train disjoint tensors.
(stage pretrain_sam.py --init "$out/init" --out "$out/sam" --steps "${SAM_STEPS:-10000}" --save-every 2000 &&
  stage train_attend.py --init "$out/init" --out "$out/attend-demo" --steps "${ATTEND_STEPS:-3000}") &
side=$!
stage pretrain_vision.py --init "$out/init" --out "$out/vision" --steps "${VISION_STEPS:-2000}" --lr 5e-4
# Whole scenes again at a lower rate: shape from the small objects keeps improving (training/README.md).
stage pretrain_vision.py --init "$out/vision" --out "$out/vision2" --steps "${VISION2_STEPS:-2500}" --lr 3e-4 --crop-steps 500 --seed 1
wait "$side"
# The main stage's wider LM starts from what the vision stages taught the narrow one.
"$python" training/widen.py --vision "$out/vision2" --wide "$out/init-wide" --out "$out/main-init"
stage train_glamm.py --init "$out/main-init" --sam "$out/sam" --out "$out/glamm-demo" --steps "$steps"
echo "GLaMM: $out/glamm-demo/glamm (vision tower $out/glamm-demo/clip)"
echo "attend backend: --model $out/attend-demo/llava-demo --sam $out/attend-demo/sam_demo.pth"
