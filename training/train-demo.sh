#!/usr/bin/env bash
# Trains the demo GLaMM on the shape world, start to finish (see training/README.md):
#   bash training/train-demo.sh OUT_DIR [STEPS]
# Needs Debian's python3-torch, python3-numpy and python3-pil (apt-get install), and bun (the project's npx bun).
# Runs at the lowest CPU priority on one thread; seeded, so the same command gives the same checkpoint.
set -euo pipefail
out=${1:?usage: bash training/train-demo.sh OUT_DIR [STEPS]}
steps=${2:-4000}
python=${PYTHON:-/usr/bin/python3}
cd "$(dirname "$0")/.."
[ -f "$out/init/glamm/model.safetensors" ] || npx bun training/init-checkpoint.ts "$out/init" 0
[ -f "$out/data/scenes.jsonl" ] || npx bun training/export-dataset.ts --tokenizer "$out/init/glamm" --out "$out/data" --seed 1 --scenes 2000
nice -n 19 "$python" training/pretrain_vision.py --init "$out/init" --data "$out/data" --out "$out/vision" --steps "${VISION_STEPS:-2000}" --lr 5e-4 --seed 0 --threads "${THREADS:-1}"
nice -n 19 "$python" training/pretrain_sam.py --init "$out/vision" --data "$out/data" --out "$out/sam" --steps "${SAM_STEPS:-1000}" --seed 0 --threads "${THREADS:-1}"
nice -n 19 "$python" training/train_glamm.py --init "$out/sam" --data "$out/data" --out "$out/glamm-demo" --steps "$steps" --seed 0 --threads "${THREADS:-1}"
echo "trained checkpoint: $out/glamm-demo/glamm (vision tower $out/glamm-demo/clip)"
nice -n 19 "$python" training/train_attend.py --init "$out/init" --data "$out/data" --out "$out/attend-demo" --steps "${ATTEND_STEPS:-3000}" --seed 0 --threads "${THREADS:-1}"
echo "attend backend: --model $out/attend-demo/llava-demo --sam $out/attend-demo/sam_demo.pth"
