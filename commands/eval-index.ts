import { Command } from "clipanion";
import { usageError } from "../src/cli/errors.ts";

/** `glamm eval` alone or with --help: lists the evaluations instead of clipanion's "Multiple commands match" menu. */
export default class EvalIndexCommand extends Command {
  static paths = [["eval"]];
  static usage = Command.Usage({
    description: "score results against ground truth: `glamm eval gcg`, `glamm eval refseg`, `glamm eval regcap` or `glamm eval captions`",
    details: "`glamm eval gcg`: grounded conversation generation (AP50, mIoU, recall, caption metrics). `glamm eval refseg`: referring segmentation (cIoU, gIoU). `glamm eval regcap`: region captions (BLEU, METEOR, ROUGE-L, CIDEr). `glamm eval captions`: COCO caption metrics for any captioner's output. `glamm eval SUBCOMMAND --help` lists the options of each.",
  });

  async execute(): Promise<number> {
    throw usageError("glamm eval needs a subcommand: gcg, refseg, regcap or captions (glamm eval --help)");
  }
}
