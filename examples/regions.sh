#!/usr/bin/env bash
# Region captions for two boxes (x1,y1,x2,y2 in pixels) and a grounded chat scripted from a here-document.
set -euo pipefail
glamm="${GLAMM:-glamm}"
"$glamm" region examples/images/kite.png --box 480,80,640,260 --box 398,378,442,572 --out out-regions
"$glamm" chat examples/images/kite.png --out out-chat <<'MESSAGES'
What is happening in this picture?
/box 480,80,640,260
What colour is <bbox>?
MESSAGES
