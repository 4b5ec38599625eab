#!/usr/bin/env bash
# Grounded captions for a whole folder: overlays and JSON mirror the folder under out/, one line per image in
# out/results.jsonl, official GCG evaluation files in out/glamm-eval/, and a browsable out/index.html.
# Run it again after an interruption: finished images are skipped. Exit code 2 means some images failed.
set -euo pipefail
glamm="${GLAMM:-glamm}"
"$glamm" gcg "${1:-examples/images}" --out "${2:-out}" --format png,json,glamm-eval --gallery
