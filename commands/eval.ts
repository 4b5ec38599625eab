import { existsSync } from "node:fs";
import { Command, Option } from "clipanion";
import { inputError, modelError, usageError } from "../src/cli/errors.ts";
import { notice } from "../src/cli/ui.ts";
import type { MeteorSetup } from "../src/eval/meteor/data.ts";
import {
  EXACT_MATCH_DESCRIPTION,
  formatMetricsTable,
  formatPerImageTable,
  METEOR_MISSING,
  runCaptionEvaluation,
  runGcgEvaluation,
  runRefsegEvaluation,
  runRegionCaptionEvaluation,
  type EvalRecord,
} from "../src/eval/run.ts";

/** --bert DIR, an installed model's name, or (nothing given) the pulled bert-base-uncased when there is one. */
async function loadBert(bert: string | undefined, device: string | undefined) {
  const { findManifest } = await import("../src/hub/manifests.ts");
  const { readInstallRecord } = await import("../src/hub/store.ts");
  const installed = (name: string) => readInstallRecord(findManifest(name)?.name ?? name)?.dir;
  const dir = bert === undefined ? installed("bert-base-uncased") : existsSync(bert) ? bert : installed(bert);
  if (bert !== undefined && dir === undefined) throw modelError(`BERT model ${bert} is neither a folder nor installed; run \`glamm pull ${bert}\``);
  if (dir === undefined) return undefined;
  const [{ BertPhraseEncoder }, { parseDevice }] = await Promise.all([import("../src/eval/bert.ts"), import("../src/runtime/ort.ts")]);
  return { encoder: await BertPhraseEncoder.load(dir, { device: parseDevice(device) }), dir };
}

/** JSON with --json or when stdout is not a terminal; else a table (and the per-image table with --per-image). */
function print(command: EvalCommand, record: EvalRecord, perImageInJson = command.perImage): void {
  const { perImage: rows, ...summary } = record;
  const stdout = command.context.stdout as NodeJS.WriteStream;
  if (command.json || !stdout.isTTY) stdout.write(`${JSON.stringify(perImageInJson ? record : summary, null, 2)}\n`);
  else {
    stdout.write(`${formatMetricsTable(record)}\n`);
    if (command.perImage && rows?.length) stdout.write(`\n${formatPerImageTable(rows)}\n`);
  }
}

/** The output options every `glamm eval` command shares. */
abstract class EvalCommand extends Command {
  json = Option.Boolean("--json", false, { description: "Print a JSON record (the default when stdout is not a terminal)" });
  perImage = Option.Boolean("--per-image", false, { description: "Include per-image (per-sample) values" });
}

/** The METEOR options of the caption evaluations. */
abstract class MeteorEvalCommand extends EvalCommand {
  meteorData = Option.String("--meteor-data", {
    description: "METEOR 1.5 data folder: an unpacked meteor-1.5.jar (function/, synonym/, nonbreaking/, data/paraphrase-en.gz) or the METEOR repository's layout (default: what `glamm pull meteor-1.5` installed)",
  });
  paraphraseTable = Option.String("--paraphrase-table", { description: "A paraphrase table in METEOR's format (gzip, three-line records) instead of the data folder's" });
  noParaphrase = Option.Boolean("--no-paraphrase", false, { description: "Leave out METEOR's paraphrase stage (exact, stem and synonym only)" });

  /** The options, then the input paths, checked before METEOR's data is loaded (its paraphrase table takes seconds). */
  protected checkInputs(inputs: Record<string, string>): void {
    if (this.noParaphrase && this.paraphraseTable !== undefined) throw usageError("--paraphrase-table and --no-paraphrase contradict each other");
    for (const [what, path] of Object.entries(inputs)) if (!existsSync(path)) throw inputError(`${what} not found: ${path}`);
  }

  /** The METEOR data, or undefined after one notice naming what is missing. */
  protected async meteor(): Promise<MeteorSetup | undefined> {
    const { chooseMeteorData } = await import("../src/eval/meteor/data.ts");
    const setup = chooseMeteorData({ meteorData: this.meteorData, paraphraseTable: this.paraphraseTable, paraphrase: !this.noParaphrase });
    if (!setup) notice(METEOR_MISSING);
    return setup;
  }
}

export class EvalGcgCommand extends MeteorEvalCommand {
  static paths = [["eval", "gcg"]];
  static usage = Command.Usage({
    description: "Grounded conversation generation metrics (AP50, mIoU, recall, BLEU, METEOR, ROUGE-L, CIDEr) as GLaMM's eval/gcg/evaluate.py",
    details:
      "PRED_DIR holds one {image_id}.json per image. Recall's phrase similarity is bert-base-uncased cosine (pulled with `glamm pull bert-base-uncased`, or --bert DIR), else exact lower-cased matching with a notice. METEOR 1.5 uses the data `glamm pull meteor-1.5` installs (or --meteor-data DIR), paraphrases included unless --no-paraphrase.",
    examples: [["Evaluate the val split", "glamm eval gcg ./predictions --gt-dir ./GranDf/annotations/val_test --split val"]],
  });
  predDir = Option.String();
  gtDir = Option.String("--gt-dir", { required: true, description: "Folder with {split}_gcg_coco_mask_gt.json and {split}_gcg_coco_caption_gt.json" });
  split = Option.String("--split", "val", { description: "val or test" });
  bert = Option.String("--bert", { description: "BERT for recall's phrase similarity: a folder or an installed model (default: the pulled bert-base-uncased)" });
  device = Option.String("--device", "cpu", { description: "auto, cpu or cuda (for --bert)" });

  async execute(): Promise<number> {
    if (this.split !== "val" && this.split !== "test") throw usageError(`--split must be val or test, not ${this.split}`);
    this.checkInputs({ "prediction folder": this.predDir, "--gt-dir": this.gtDir });
    const meteor = await this.meteor();
    // Loaded only when asked for: the BERT encoder brings in onnxruntime, which `glamm --help` never needs.
    const bert = await loadBert(this.bert, this.device);
    const encoder = bert?.encoder;
    try {
      const similarity = encoder ? { similarity: encoder.similarity, similarityDescription: `BERT mean-pooled cosine (${bert!.dir})` } : {};
      print(this, await runGcgEvaluation({ predDir: this.predDir, gtDir: this.gtDir, split: this.split, meteor, ...similarity }));
      // After the scores, so that an evaluation that cannot run reports only why.
      if (!encoder) notice(`recall used ${EXACT_MATCH_DESCRIPTION}; \`glamm pull bert-base-uncased\` (or --bert DIR) gives the official similarity`);
    } finally {
      await encoder?.close();
    }
    return 0;
  }
}

export class EvalRefsegCommand extends EvalCommand {
  static paths = [["eval", "refseg"]];
  static usage = Command.Usage({
    description: "Referring segmentation cIoU and gIoU as GLaMM's eval/referring_seg loop (float32)",
    details: 'PAIRS is a JSON file {"samples": [{"sample_id", "pairs": [{"gt": RLE, "pred": RLE}, ...]}, ...]}.',
  });
  pairs = Option.String();

  async execute(): Promise<number> {
    print(this, runRefsegEvaluation(this.pairs));
    return 0;
  }
}

export class EvalRegcapCommand extends MeteorEvalCommand {
  static paths = [["eval", "regcap"]];
  static usage = Command.Usage({
    description: "Region captioning metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) as GLaMM's eval/region_captioning/evaluate.py",
    details: "RESULTS is a JSON list of {image_id, caption} or a folder of such files; --gt is a COCO captions file.",
  });
  results = Option.String();
  gt = Option.String("--gt", { required: true, description: "COCO-format caption ground truth" });

  async execute(): Promise<number> {
    this.checkInputs({ results: this.results, "--gt": this.gt });
    print(this, runRegionCaptionEvaluation(this.results, this.gt, await this.meteor()));
    return 0;
  }
}

export class EvalCaptionsCommand extends MeteorEvalCommand {
  static paths = [["eval", "captions"]];
  static usage = Command.Usage({
    description: "COCO caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr) of any captioner, per image and overall, as pycocoevalcap's COCOEvalCap",
    details:
      'CANDIDATES is a COCO results file, a JSON list of {"image_id", "caption"} (one per image), or a folder of such files; REFERENCES is a COCO captions annotation file ({"images": [{"id"}...], "annotations": [{"image_id", "caption"}...]}). The images with a candidate are scored, in the annotation file\'s order. --tokenize ptb (default) tokenizes both sides as COCOEvalCap does; --tokenize none scores the captions as given (METEOR still applies its own -norm). The JSON record always holds the per-image values.',
    examples: [
      ["Score a captioner's output", "glamm eval captions --candidates results.json --references captions_val2017.json"],
      ["Raw captions, METEOR without paraphrases", "glamm eval captions --candidates c.json --references r.json --tokenize none --no-paraphrase --json"],
    ],
  });
  candidates = Option.String("--candidates", { required: true, description: "COCO results: a JSON list of {image_id, caption}, or a folder of such lists" });
  references = Option.String("--references", { required: true, description: "COCO captions annotations (images and annotations)" });
  tokenize = Option.String("--tokenize", "ptb", { description: "ptb (as COCOEvalCap) or none (captions as given)" });

  async execute(): Promise<number> {
    if (this.tokenize !== "ptb" && this.tokenize !== "none") throw usageError(`--tokenize must be ptb or none, not ${this.tokenize}`);
    this.checkInputs({ "--candidates": this.candidates, "--references": this.references });
    const meteor = await this.meteor();
    print(this, runCaptionEvaluation({ candidates: this.candidates, references: this.references, meteor, tokenize: this.tokenize }), true);
    return 0;
  }
}
