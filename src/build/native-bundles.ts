import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { BunPlugin } from "bun";

/** A native bundle as found in node_modules at build time (see src/runtime/native.ts for the runtime side). */
interface BundleSource {
  name: string;
  files: { absolute: string; relative: string }[];
  addon: string;
}

const root = resolve(import.meta.dir, "../..");
const platformArch = `${process.platform}-${process.arch}`;
const packageDir = (name: string) => dirname(Bun.resolveSync(`${name}/package.json`, root));

function onnxruntimeSource(): BundleSource {
  const dir = join(packageDir("onnxruntime-node"), "bin/napi-v6", process.platform, process.arch);
  // Only the CPU runtime is embedded: the CUDA provider is an explicit download (`glamm runtime install cuda`).
  const wanted = readdirSync(dir).filter((f) => f === "onnxruntime_binding.node" || /^libonnxruntime\.so/.test(f));
  return {
    name: "onnxruntime",
    files: wanted.map((f) => ({ absolute: join(dir, f), relative: f })),
    addon: "onnxruntime_binding.node",
  };
}

function sharpSource(): BundleSource {
  // sharp's addon finds libvips through RPATH $ORIGIN/../../sharp-libvips-<platform>/lib: keep that layout.
  const addonDir = join(packageDir(`@img/sharp-${platformArch}`), "lib");
  const vipsDir = join(packageDir(`@img/sharp-libvips-${platformArch}`), "lib");
  const addon = readdirSync(addonDir).find((f) => f.endsWith(".node"));
  if (!addon) throw new Error(`no sharp addon in ${addonDir}`);
  const libs = readdirSync(vipsDir).filter((f) => /^libvips.*\.so/.test(f));
  return {
    name: "sharp",
    files: [
      { absolute: join(addonDir, addon), relative: `sharp-${platformArch}/lib/${addon}` },
      ...libs.map((f) => ({ absolute: join(vipsDir, f), relative: `sharp-libvips-${platformArch}/lib/${f}` })),
    ],
    addon: `sharp-${platformArch}/lib/${addon}`,
  };
}

function bundleModule(source: BundleSource): string {
  const hash = createHash("sha256");
  for (const file of source.files) hash.update(readFileSync(file.absolute));
  const imports = source.files.map((f, i) => `import f${i} from ${JSON.stringify(f.absolute)} with { type: "file" };`);
  const files = source.files.map((f, i) => `{ embedded: f${i}, relative: ${JSON.stringify(f.relative)} }`);
  const runtime = JSON.stringify(join(root, "src/runtime/native.ts"));
  return [
    ...imports,
    `import { loadBundle } from ${runtime};`,
    `export const nativeAddon = loadBundle({ name: ${JSON.stringify(source.name)}, hash: ${JSON.stringify(hash.digest("hex"))},`,
    `  files: [${files.join(", ")}], addon: ${JSON.stringify(source.addon)} });`,
  ].join("\n");
}

/**
 * Rewrites the places where onnxruntime-node and sharp load their addons so that, in the compiled binary, they load
 * them from files embedded in the binary and extracted on first use.
 */
export const embedNativeBundles: BunPlugin = {
  name: "glamm-embed-native",
  setup(build) {
    // Virtual module names must not look like the packages: Bun derives bundle variable names from them, and a
    // "sharp" module here once made the bundle bind sharp's default export to this addon.
    const sources: Record<string, () => BundleSource> = { "onnxruntime-addon": onnxruntimeSource, "sharp-addon": sharpSource };
    build.onResolve({ filter: /^glamm-native:/ }, (args) => ({ path: args.path.slice(13), namespace: "glamm-native" }));
    build.onLoad({ filter: /.*/, namespace: "glamm-native" }, (args) => ({
      contents: bundleModule(sources[args.path]()),
      loader: "js",
    }));
    build.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, async (args) => {
      const text = await Bun.file(args.path).text();
      const patched = text.replace(/require\(`\.\.\/bin\/napi-v6\/[^`]*`\)/, 'require("glamm-native:onnxruntime-addon").nativeAddon');
      if (patched === text) throw new Error("onnxruntime-node's binding loader changed; update src/build/native-bundles.ts");
      return { contents: patched, loader: "js" };
    });
    build.onLoad({ filter: /sharp[\\/]dist[\\/]sharp\.mjs$/ }, () => ({
      contents: 'import { nativeAddon } from "glamm-native:sharp-addon";\nexport default nativeAddon;\n',
      loader: "js",
    }));
  },
};
