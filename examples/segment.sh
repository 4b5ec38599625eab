#!/usr/bin/env bash
# Referring segmentation of two expressions on every image, printing one JSON line per image (stdout is a pipe),
# then the phrase and mask area of each segment with jq.
set -euo pipefail
glamm="${GLAMM:-glamm}"
"$glamm" segment "the red square" -e "the blue circle" "${1:-examples/images}" --out "${2:-out-segment}" |
  jq -r '.image.path as $img | .segments[] | "\($img)\t\(.phrase)\t\(.area)"'
