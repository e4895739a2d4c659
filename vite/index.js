// outbox-sync/vite: a Vite plugin that emits the app's service worker
// (`/sw.js` by default) with the outbox sync wired in and the whole build
// precached, versioned by the build's content.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The package's files the worker imports, kept in their relative layout under `outbox-sync/`. */
const WORKER_FILES = ["sw/index.js", "sw/last-opened.js", "pkg/outbox_sync.js"];
const WASM = "pkg/outbox_sync_bg.wasm";

/**
 * The plugin. Options:
 * - `fileName`: where the worker goes in the build (default `"sw.js"`); register it with
 *   `navigator.serviceWorker.register("/sw.js", { type: "module" })`.
 * - `database`: the outbox database the pages open; leave it out to sync the one a page opened last.
 * - `extraSource`: a file of your own service-worker code, appended to the emitted worker.
 * - `exclude`: a function `(fileName) => boolean` for build files not to precache (source maps never are).
 *
 * @param {{ fileName?: string, database?: string, extraSource?: string, exclude?: (fileName: string) => boolean }} [options]
 */
export function outboxSync(options = {}) {
  const fileName = options.fileName ?? "sw.js";
  let config;
  return {
    name: "outbox-sync",
    apply: "build",
    enforce: "post",
    configResolved(resolved) {
      config = resolved;
    },
    generateBundle(_output, bundle) {
      const contents = new Map();
      for (const [name, item] of Object.entries(bundle)) {
        contents.set(name, item.type === "chunk" ? item.code : item.source);
      }
      for (const name of publicFiles(config)) {
        contents.set(name, readFileSync(join(config.publicDir, name)));
      }
      // The page's wasm when the app bundles the package (the worker loads the
      // same file, downloaded and cached once); else the package's own copy.
      let wasm = [...contents.keys()].find((name) => /(^|\/)outbox_sync_bg[^/]*\.wasm$/.test(name));
      const emitted = [...WORKER_FILES, ...(wasm ? [] : [WASM])];
      for (const file of emitted) {
        const name = `outbox-sync/${file}`;
        const source = readFileSync(join(PACKAGE, file));
        this.emitFile({ type: "asset", fileName: name, source });
        contents.set(name, source);
      }
      wasm ??= `outbox-sync/${WASM}`;

      const skip = options.exclude ?? (() => false);
      const shell = [...contents.keys()]
        .filter((name) => name !== fileName && !name.endsWith(".map") && !skip(name))
        .sort();
      const hash = createHash("sha256");
      for (const name of shell) hash.update(name).update("\0").update(contents.get(name)).update("\0");
      const version = hash.digest("hex").slice(0, 16);
      const urls = ["./", ...shell.map((name) => `./${name}`)];
      const install = options.database === undefined ? "" : `, database: ${JSON.stringify(options.database)}`;
      const extra = options.extraSource ? `\n${readFileSync(resolve(config.root, options.extraSource), "utf8")}` : "";
      const source = [
        "// Emitted by outbox-sync/vite: precaches this build and syncs the outbox.",
        'import { installOutboxSync, precache } from "./outbox-sync/sw/index.js";',
        `precache(self, { version: ${JSON.stringify(version)}, urls: ${JSON.stringify(urls)}, includePackage: false });`,
        `installOutboxSync(self, { wasmUrl: new URL(${JSON.stringify(`./${wasm}`)}, self.location.href)${install} });`,
      ].join("\n");
      this.emitFile({ type: "asset", fileName, source: `${source}\n${extra}` });
    },
  };
}

/** The files of Vite's public folder (copied as they are into the build), as build paths. */
function publicFiles(config) {
  const root = config?.publicDir;
  if (config?.build?.copyPublicDir === false || !root || !existsSync(root)) return [];
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else found.push(relative(root, path).split(sep).join("/"));
    }
  };
  walk(root);
  return found;
}

export default outboxSync;
