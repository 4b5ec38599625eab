import { existsSync } from "node:fs";
import { Command, Option } from "clipanion";
import { modelError, usageError } from "../src/cli/errors.ts";
import { notice } from "../src/cli/ui.ts";
import { EXACT_MATCH_DESCRIPTION, formatMetricsTable, runGcgEvaluation, runRefsegEvaluation, runRegionCaptionEvaluation, type EvalRecord } from "../src/eval/run.ts";

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

function print(command: EvalCommand, record: EvalRecord): void {
  const { json, perImage } = command;
  const { perImage: rows, ...summary } = record;
  if (json) command.context.stdout.write(`${JSON.stringify(perImage ? record : summary, null, 2)}\n`);
  else {
    command.context.stdout.write(`${formatMetricsTable(record)}\n`);
    if (perImage && rows) for (const row of rows) command.context.stdout.write(`${JSON.stringify(row)}\n`);
  }
}

/** The output options every `glamm eval` command shares. */
abstract class EvalCommand extends Command {
  json = Option.Boolean("--json", false, { description: "Print a JSON record" });
  perImage = Option.Boolean("--per-image", false, { description: "Include per-image (per-sample) values" });
}

const meteorDataOption = () =>
  Option.String("--meteor-data", {
    description: "Folder with METEOR 1.5's data: function/english.words plus synonym/english.{synsets,exceptions} (from meteor-1.5.jar) or a WordNet 3.0 dict/ folder",
  });

export class EvalGcgCommand extends EvalCommand {
  static paths = [["eval", "gcg"]];
  static usage = Command.Usage({
    description: "Grounded conversation generation metrics (AP50, mIoU, recall, BLEU, ROUGE-L, CIDEr) as GLaMM's eval/gcg/evaluate.py",
    details:
      "PRED_DIR holds one {image_id}.json per image. Recall's phrase similarity is bert-base-uncased cosine (pulled with `glamm pull bert-base-uncased`, or --bert DIR), else exact lower-cased matching with a notice. METEOR is computed with --meteor-data DIR, without the paraphrase stage.",
    examples: [["Evaluate the val split", "glamm eval gcg ./predictions --gt-dir ./GranDf/annotations/val_test --split val"]],
  });
  predDir = Option.String();
  gtDir = Option.String("--gt-dir", { required: true, description: "Folder with {split}_gcg_coco_mask_gt.json and {split}_gcg_coco_caption_gt.json" });
  split = Option.String("--split", "val", { description: "val or test" });
  bert = Option.String("--bert", { description: "BERT for recall's phrase similarity: a folder or an installed model (default: the pulled bert-base-uncased)" });
  device = Option.String("--device", "cpu", { description: "auto, cpu or cuda (for --bert)" });
  meteorData = meteorDataOption();

  async execute(): Promise<number> {
    if (this.split !== "val" && this.split !== "test") throw usageError(`--split must be val or test, not ${this.split}`);
    const meteor = this.meteorData ? (await import("../src/eval/meteor/data.ts")).loadMeteorResources(this.meteorData) : undefined;
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

export class EvalRegcapCommand extends EvalCommand {
  static paths = [["eval", "regcap"]];
  static usage = Command.Usage({
    description: "Region captioning metrics (BLEU-1..4, METEOR with --meteor-data, ROUGE-L, CIDEr) as GLaMM's eval/region_captioning/evaluate.py",
    details: "RESULTS is a JSON list of {image_id, caption} or a folder of such files; --gt is a COCO captions file.",
  });
  results = Option.String();
  gt = Option.String("--gt", { required: true, description: "COCO-format caption ground truth" });
  meteorData = meteorDataOption();

  async execute(): Promise<number> {
    const meteor = this.meteorData ? (await import("../src/eval/meteor/data.ts")).loadMeteorResources(this.meteorData) : undefined;
    print(this, runRegionCaptionEvaluation(this.results, this.gt, meteor));
    return 0;
  }
}
