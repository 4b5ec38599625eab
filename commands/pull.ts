import { Command, Option } from "clipanion";
import { formatBytes, ProgressReporter } from "../src/hub/progress.ts";
import { pullModel, type PullResult } from "../src/hub/store.ts";

export default class PullCommand extends Command {
  static paths = [["pull"]];
  static usage = Command.Usage({
    description: "download a model (and its image encoder) into the local store",
    details: `
      NAME is a model from \`glamm models\` or any Hugging Face Hub repo id, optionally with @REVISION (branch, tag or
      commit). Files go to the Hugging Face cache ($HF_HOME/hub, shared with Python tools, so nothing already there is
      fetched again); interrupted downloads resume. HF_ENDPOINT selects a mirror, HF_TOKEN authenticates, HF_HUB_OFFLINE=1
      uses the cache only. \`--from DIR\` installs a folder laid out like the Hub repo instead of downloading. Pulling
      again with the same inputs changes nothing.
    `,
    examples: [
      ["Pull the recommended GLaMM model", "glamm pull glamm-fullscope"],
      ["Pull a Hub repo at a commit", "glamm pull MBZUAI/GLaMM-GCG@0123456789abcdef0123456789abcdef01234567"],
      ["Install from a git clone of the Hub repo", "glamm pull glamm-gcg --from ./GLaMM-GCG"],
    ],
  });

  name = Option.String({ required: true, name: "name[@revision]" });
  from = Option.String("--from", { description: "install from a local directory in the Hub layout instead of the network" });
  json = Option.Boolean("--json", false, { description: "print the installed models as JSON" });

  async execute(): Promise<number> {
    const controller = new AbortController();
    const interrupt = () => controller.abort();
    process.once("SIGINT", interrupt);
    await import("../src/convert/pull-converter.ts"); // registers the ONNX conversion; loads onnxruntime only here
    const progress = new ProgressReporter({ stream: this.context.stderr, label: this.name });
    try {
      const results = await pullModel(this.name, {
        from: this.from,
        signal: controller.signal,
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
  const from = s.commit ? `${s.repo}@${s.revision} (${s.commit.slice(0, 10)})` : `${s.repo} from ${result.record.source.kind === "dir" ? result.record.source.dir : "?"}`;
  const what = s.upToDate ? "up to date" : `${s.files.length} files, ${formatBytes(s.size)}, ${formatBytes(s.downloadedBytes)} downloaded`;
  return `${s.name}: ${from}: ${what}\n`;
}
