import { Option } from "clipanion";
import type { AttendSettings } from "../pipeline/attend/task.ts";
import type { TaskInput } from "../pipeline/tasks.ts";
import { ExitCode, usageError } from "./errors.ts";
import { ModelCommand } from "./model-command.ts";
import { parseChoice, parseCount } from "./parse.ts";

/**
 * Options every image task shares (model, device, outputs, generation) and the batch loop that runs the task over
 * files, folders and globs. Subclasses say which task and what input it takes.
 */
export abstract class TaskCommand extends ModelCommand {
  out = Option.String("--out", "glamm-out", { description: "output folder; outputs mirror the input tree" });
  format = Option.String("--format", "png,json", { description: "comma-separated: png (overlay), json, glamm-eval (official GCG eval file)" });
  seed = Option.String("--seed", { description: "sample with this seed instead of greedy decoding" });
  temperature = Option.String("--temperature", { description: "sampling temperature (implies sampling)" });
  topP = Option.String("--top-p", { description: "nucleus sampling threshold" });
  topK = Option.String("--top-k", { description: "sample among the k most likely tokens" });
  gallery = Option.Boolean("--gallery", false, { description: "also write index.html in the output folder" });
  shard = Option.String("--shard", { description: "run shard INDEX/COUNT of the images (INDEX from 0); automatic in SLURM job arrays and Kubernetes Indexed Jobs" });
  shards = Option.String("--shards", { description: "the number of shards when SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX gives the index (or GLAMM_SHARDS)" });

  abstract readonly task: TaskInput["task"];
  /** The IMAGE arguments (files, folders, globs). */
  abstract imageArgs(): string[];
  abstract taskInput(): TaskInput;
  /** The attend backend's settings when it was chosen (only commands it can ground offer it). */
  attendSettings(): AttendSettings | undefined {
    return undefined;
  }

  private sampling() {
    const sampled = [this.seed, this.temperature, this.topP, this.topK].some((v) => v !== undefined);
    if (!sampled) return undefined;
    const num = (name: string, v?: string) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!Number.isFinite(n)) throw usageError(`${name} must be a number, got "${v}"`);
      return n;
    };
    return {
      seed: this.seed === undefined ? 0 : parseCount("--seed", this.seed),
      temperature: num("--temperature", this.temperature),
      topP: num("--top-p", this.topP),
      topK: this.topK === undefined ? undefined : parseCount("--top-k", this.topK, 1),
    };
  }

  async execute(): Promise<number> {
    const { runImageTask } = await import("../pipeline/run-command.ts");
    const { parseFormats } = await import("../output/write-result.ts");
    const { resolveShard } = await import("../pipeline/shard.ts");
    const attend = this.attendSettings();
    const failed = await runImageTask({
      images: this.imageArgs(),
      input: this.taskInput(),
      model: this.model,
      vision: this.vision,
      device: this.device,
      precision: parseChoice("--precision", this.precision, ["auto", "fp32", "fp16", "int4"] as const),
      out: this.out,
      formats: parseFormats(this.format),
      maxTokens: parseCount("--max-tokens", this.maxTokens, 1),
      sampling: this.sampling(),
      cache: !this.noCache,
      gallery: this.gallery,
      json: this.json || !(this.context.stdout as NodeJS.WriteStream).isTTY,
      stdout: this.context.stdout,
      shard: resolveShard({ shard: this.shard, shards: this.shards }),
      attend,
    });
    return failed > 0 ? ExitCode.input : ExitCode.ok;
  }
}

/** An image task the attend backend can also ground (gcg, caption, ground): adds --backend and its options. */
export abstract class AttendTaskCommand extends TaskCommand {
  backend = Option.String("--backend", "glamm", { description: "glamm, or attend (attend-and-segment on LLaVA-1.5)" });
  sam = Option.String("--sam", { description: "attend: SAM checkpoint (.pth or Hugging Face folder; default: pulled sam-vit-h, or the built-in demo's with the demo LLaVA)" });
  removeCorner = Option.Boolean("--remove-corner", false, { description: "attend: blank the four corner cells of every map (official option)" });
  minScore = Option.String("--min-score", { description: "attend: drop phrases whose SAM score is below this" });
  heatmaps = Option.Boolean("--heatmaps", false, { description: "attend: write each phrase's attention heatmap (PNG, and the raw map in the JSON)" });

  attendSettings(): AttendSettings | undefined {
    const backend = parseChoice("--backend", this.backend, ["glamm", "attend"] as const);
    const minScore = this.minScore === undefined ? undefined : Number(this.minScore);
    if (minScore !== undefined && !Number.isFinite(minScore)) throw usageError(`--min-score must be a number, got "${this.minScore}"`);
    return backend === "attend" ? { sam: this.sam, removeCorner: this.removeCorner, minScore, heatmaps: this.heatmaps, difflmm: this.difflmmOptions() } : undefined;
  }
}
