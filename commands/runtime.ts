import { Command, Option } from "clipanion";
import { usageError } from "../src/cli/errors.ts";

export default class RuntimeInstallCommand extends Command {
  static paths = [["runtime", "install"]];
  static usage = Command.Usage({
    description: "install an optional execution provider (cuda) into glamm's runtime folder",
    details: `
      The CUDA provider of onnxruntime is too large to ship inside the binary. This downloads it from NuGet
      (GLAMM_NUGET_ENDPOINT overrides the endpoint), verifies its SHA-512 against the NuGet catalog, resumes an
      interrupted download, and puts the libraries beside libonnxruntime. The CUDA 12 and cuDNN 9 libraries
      themselves come from your NVIDIA installation; \`glamm doctor\` says which are missing.
    `,
    examples: [
      ["Download and install the CUDA provider", "glamm runtime install cuda"],
      ["Install from a package copied by hand", "glamm runtime install cuda --from microsoft.ml.onnxruntime.gpu.linux.1.30.0.nupkg"],
    ],
  });

  provider = Option.String({ required: true, name: "provider" });
  from = Option.String("--from", { description: "install from a local .nupkg instead of downloading" });
  json = Option.Boolean("--json", false, { description: "print the result as JSON" });

  async execute(): Promise<number> {
    if (this.provider !== "cuda") throw usageError(`unknown provider "${this.provider}" (only cuda can be installed)`);
    const { installCudaProvider } = await import("../src/runtime/cuda-install.ts");
    const { progressReporter } = await import("../src/hub/progress.ts");
    const progress = progressReporter("CUDA provider");
    // The final progress line only after a download: a failure is reported by its error line alone.
    const result = await installCudaProvider({ from: this.from, onProgress: progress.update });
    progress.done();
    if (this.json) this.context.stdout.write(`${JSON.stringify(result)}\n`);
    else this.context.stdout.write(`installed ${result.files.join(", ")} into ${result.dir}\n`);
    return 0;
  }
}
