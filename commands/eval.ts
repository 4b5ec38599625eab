import { Command, Option } from "clipanion";
import { usageError } from "../src/cli/errors.ts";
import { formatMetricsTable, runGcgEvaluation, runRefsegEvaluation, runRegionCaptionEvaluation, type EvalRecord } from "../src/eval/run.ts";

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

export class EvalGcgCommand extends EvalCommand {
  static paths = [["eval", "gcg"]];
  static usage = Command.Usage({
    description: "Grounded conversation generation metrics (AP50, mIoU, recall, BLEU, ROUGE-L, CIDEr) as GLaMM's eval/gcg/evaluate.py",
    details:
      "PRED_DIR holds one {image_id}.json per image. Recall's phrase similarity is exact lower-cased matching until the BERT encoder is available; METEOR is not computed (it needs METEOR's data files).",
    examples: [["Evaluate the val split", "glamm eval gcg ./predictions --gt-dir ./GranDf/annotations/val_test --split val"]],
  });
  predDir = Option.String();
  gtDir = Option.String("--gt-dir", { required: true, description: "Folder with {split}_gcg_coco_mask_gt.json and {split}_gcg_coco_caption_gt.json" });
  split = Option.String("--split", "val", { description: "val or test" });

  async execute(): Promise<number> {
    if (this.split !== "val" && this.split !== "test") throw usageError(`--split must be val or test, not ${this.split}`);
    print(this, await runGcgEvaluation({ predDir: this.predDir, gtDir: this.gtDir, split: this.split }));
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
    description: "Region captioning metrics (BLEU-1..4, ROUGE-L, CIDEr) as GLaMM's eval/region_captioning/evaluate.py",
    details: "RESULTS is a JSON list of {image_id, caption} or a folder of such files; --gt is a COCO captions file.",
  });
  results = Option.String();
  gt = Option.String("--gt", { required: true, description: "COCO-format caption ground truth" });

  async execute(): Promise<number> {
    print(this, runRegionCaptionEvaluation(this.results, this.gt));
    return 0;
  }
}
