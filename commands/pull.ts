import { Command, Option } from "clipanion";
import { METEOR_DATA, pullData, type DataPullResult } from "../src/eval/meteor/pull.ts";
import { formatBytes, ProgressReporter } from "../src/hub/progress.ts";
import { pullModel, type PullResult } from "../src/hub/store.ts";

export default class PullCommand extends Command {
  static paths = [["pull"]];
  static usage = Command.Usage({
    description: "download a model (and its image encoder) into the local store",
    details: `
      NAME is a model from \`glamm models\` or any Hugging Face Hub repo id, optionally with @REVISION (branch, tag,
      commit, or a pull request as refs/pr/N), or meteor-1.5: METEOR 1.5's data files for \`glamm eval\`, from its public
      repository at a pinned commit (each verified by its git blob id; \`--from\` takes a copy of the repository or an
      unpacked meteor-1.5.jar with its data/). Files go to the Hugging Face cache ($HF_HOME/hub, shared with Python
      tools, so nothing already there is fetched again); interrupted downloads resume. A model has a fixed file list;
      for other repos \`--include\`/\`--exclude\` take glob patterns (as huggingface_hub's allow/ignore patterns) and
      \`--variant fp16\` takes NAME.fp16.EXT weights instead of NAME.EXT where both exist. HF_ENDPOINT selects a mirror,
      HF_TOKEN authenticates, HF_HUB_OFFLINE=1 uses the cache only; when the Hub fails (5xx, timeout, unreachable) a
      cached revision is used with a notice. \`--from DIR\` installs a folder laid out like the Hub repo instead of
      downloading. Pulling again with the same inputs changes nothing.
    `,
    examples: [
      ["Pull the recommended GLaMM model", "glamm pull glamm-fullscope"],
      ["Pull a Hub repo at a commit", "glamm pull MBZUAI/GLaMM-GCG@0123456789abcdef0123456789abcdef01234567"],
      ["Pull the safetensors conversion in a pull request", "glamm pull MBZUAI/GLaMM-GCG@refs/pr/1"],
      ["Pull only the fp16 weights of a diffusers repo", "glamm pull diffusers/stable-diffusion-xl-1.0-inpainting-0.1 --variant fp16 --exclude '*.bin'"],
      ["Install from a git clone of the Hub repo", "glamm pull glamm-gcg --from ./GLaMM-GCG"],
      ["Fetch METEOR 1.5's data for glamm eval", "glamm pull meteor-1.5"],
      ["Prepare a GLAMM_HOME that cluster tasks share read-only", "GLAMM_HOME=/shared/glamm glamm pull glamm-gcg --convert-only --precision int4,fp16"],
    ],
  });

  name = Option.String({ required: true, name: "name[@revision]" });
  from = Option.String("--from", { description: "install from a local directory in the Hub layout instead of the network" });
  include = Option.Array("--include", { description: "fetch only files matching this glob (repeatable; repos without a manifest)" });
  exclude = Option.Array("--exclude", { description: "skip files matching this glob (repeatable; repos without a manifest)" });
  variant = Option.String("--variant", { description: "weights variant, e.g. fp16: NAME.fp16.EXT instead of NAME.EXT where both exist" });
  json = Option.Boolean("--json", false, { description: "print the installed models as JSON" });
  convertOnly = Option.Boolean("--convert-only", false, { description: "download nothing: convert the installed model and say whether GLAMM_HOME is ready to be shared read-only" });
  precision = Option.String("--precision", { description: "with --convert-only: fp32, fp16 or int4, comma-separated for several (default: this machine's)" });

  async execute(): Promise<number> {
    if (this.convertOnly) {
      const { convertForSharing } = await import("../src/pipeline/shared-home.ts");
      return convertForSharing(this.name, this.precision, this.context.stdout);
    }
    const controller = new AbortController();
    const interrupt = () => controller.abort();
    process.once("SIGINT", interrupt);
    await import("../src/convert/pull-converter.ts"); // registers the ONNX conversion; loads onnxruntime only here
    const progress = new ProgressReporter({ stream: this.context.stderr, label: this.name });
    try {
      if (this.name === METEOR_DATA.name) return this.pullData(controller.signal, progress);
      const results = await pullModel(this.name, {
        from: this.from,
        signal: controller.signal,
        filter: { include: this.include, exclude: this.exclude, variant: this.variant },
        progress,
        onNotice: (message) => this.context.stderr.write(`glamm: ${message}\n`),
      });
      progress.finish();
      this.context.stdout.write(this.json ? `${JSON.stringify(results.map(summary), null, 2)}\n` : results.map(line).join(""));
      return 0;
    } finally {
      process.off("SIGINT", interrupt);
    }
  }

  private async pullData(signal: AbortSignal, progress: ProgressReporter): Promise<number> {
    const result = await pullData(METEOR_DATA, { from: this.from, signal, progress, onNotice: (message) => this.context.stderr.write(`glamm: ${message}\n`) });
    progress.finish();
    this.context.stdout.write(this.json ? `${JSON.stringify(dataSummary(result), null, 2)}\n` : dataLine(result));
    return 0;
  }
}

function dataSummary({ record, dir, upToDate, downloadedBytes }: DataPullResult) {
  const size = record.files.reduce((sum, f) => sum + f.size, 0);
  return { name: record.name, repo: record.repository, commit: record.commit, source: record.source, dir, upToDate, downloadedBytes, size, files: record.files };
}

function dataLine(result: DataPullResult): string {
  const s = dataSummary(result);
  const what = s.upToDate ? "up to date" : `${s.files.length} files, ${formatBytes(s.size)}, ${formatBytes(s.downloadedBytes)} downloaded`;
  return `${s.name}: ${s.repo}@${s.commit.slice(0, 10)}: ${what} (${s.dir})\n`;
}

function summary(result: PullResult) {
  const { record } = result;
  return {
    name: record.name,
    repo: record.repo,
    revision: record.revision,
    commit: record.commit ?? null,
    source: record.source,
    dir: record.dir,
    upToDate: result.upToDate,
    downloadedBytes: result.downloadedBytes,
    size: record.files.reduce((sum, f) => sum + f.size, 0),
    files: record.files,
    dependencies: record.dependencies,
    converted: result.converted,
  };
}

function line(result: PullResult): string {
  const s = summary(result);
  const at = s.commit === s.revision ? s.commit.slice(0, 10) : `${s.revision} (${s.commit?.slice(0, 10)})`;
  const from = s.commit ? `${s.repo}@${at}` : `${s.repo} from ${result.record.source.kind === "dir" ? result.record.source.dir : "?"}`;
  const what = s.upToDate ? "up to date" : `${s.files.length} files, ${formatBytes(s.size)}, ${formatBytes(s.downloadedBytes)} downloaded`;
  return `${s.name}: ${from}: ${what}\n`;
}
