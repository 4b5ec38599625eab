import { usageError } from "../cli/errors.ts";

export interface FileFilter {
  /** huggingface_hub's allow_patterns: keep only files matching one of these. */
  include?: string[];
  /** huggingface_hub's ignore_patterns: drop files matching one of these. */
  exclude?: string[];
  /** diffusers' variant (fp16, bf16, ...): take NAME.fp16.EXT weights instead of NAME.EXT where both exist. */
  variant?: string;
}

/** fnmatch as huggingface_hub's filter_repo_objects uses it: `*` also crosses `/`, a pattern ending in `/` means the folder. */
export function globToRegExp(pattern: string): RegExp {
  const full = pattern.endsWith("/") ? `${pattern}*` : pattern;
  let source = "";
  for (let i = 0; i < full.length; i++) {
    const c = full[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[") {
      const close = full.indexOf("]", i + 2);
      if (close < 0) {
        source += "\\[";
        continue;
      }
      let set = full.slice(i + 1, close);
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      source += `[${set.replaceAll("\\", "\\\\")}]`;
      i = close;
    } else source += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "s");
}

const weightSuffix = /\.(safetensors|bin|ckpt|pt|pth|msgpack|onnx|h5)$/;
/** NAME.VARIANT.EXT, NAME.VARIANT-00001-of-00002.EXT, NAME.EXT.index.VARIANT.json; a variant starts with a letter. */
const variantOf = (file: string): string | undefined =>
  file.match(/\.([a-z][a-z0-9_]*)(?:-\d{5}-of-\d{5})?\.(?:safetensors|bin|ckpt|pt|pth|msgpack|onnx|h5)$/)?.[1] ??
  file.match(/\.(?:safetensors|bin)\.index\.([a-z][a-z0-9_]*)\.json$/)?.[1];
const isWeightFile = (file: string) => weightSuffix.test(file) || /\.(safetensors|bin)\.index(\.[a-z][a-z0-9_]*)?\.json$/.test(file);
const folderOf = (file: string) => file.slice(0, file.lastIndexOf("/") + 1);

/**
 * The files of a repo listing to fetch: include/exclude as huggingface_hub's allow/ignore patterns, then with a
 * variant, as diffusers picks them: a folder that has weights of that variant gets only those, weights of other
 * variants are dropped, and folders without it keep their plain weights.
 */
export function selectFiles(files: readonly string[], filter: FileFilter): string[] {
  const include = filter.include?.map(globToRegExp);
  const exclude = filter.exclude?.map(globToRegExp);
  let selected = files.filter((f) => (!include || include.some((r) => r.test(f))) && !exclude?.some((r) => r.test(f)));
  const variant = filter.variant;
  if (variant !== undefined) {
    if (!/^[a-z][a-z0-9_]*$/.test(variant)) throw usageError(`--variant "${variant}": expected a name like fp16 or bf16`);
    const foldersWithVariant = new Set(selected.filter((f) => isWeightFile(f) && variantOf(f) === variant).map(folderOf));
    selected = selected.filter((f) => {
      if (!isWeightFile(f)) return true;
      const tag = variantOf(f);
      return tag === undefined ? !foldersWithVariant.has(folderOf(f)) : tag === variant;
    });
  }
  return selected;
}
