// Where a DevTools CPU profile spent its time: self time by function, and
// the split between wasm, JavaScript, garbage collection, idle and the
// browser's own work. Shared by profile.mjs and profile-queries.mjs.

/** Self time (ms) by function name and by kind, from a `Profiler.stop` profile. */
export function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map();
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0) / 1000));
  const byName = new Map();
  const kinds = { wasm: 0, js: 0, gc: 0, idle: 0, program: 0 };
  for (const [id, ms] of self) {
    const f = byId.get(id).callFrame;
    const name = f.functionName || "(anonymous)";
    const wasm = f.url.includes(".wasm") || f.url.startsWith("wasm://") || name.startsWith("$");
    const kind = name === "(idle)" ? "idle" : name === "(garbage collector)" ? "gc" : name === "(program)" ? "program" : wasm ? "wasm" : "js";
    kinds[kind] += ms;
    const key = `${kind === "wasm" ? "[wasm] " : ""}${name}${kind === "js" && f.url ? ` (${f.url.split("/").pop()}:${f.lineNumber + 1})` : ""}`;
    byName.set(key, (byName.get(key) ?? 0) + ms);
  }
  return { kinds, byName };
}

/** Prints the split by kind and the `top` functions with the most self time. */
export function printSelfTimes({ kinds, byName }, { top = 25, digits = 0 } = {}) {
  console.log("split (ms):", Object.fromEntries(Object.entries(kinds).map(([k, v]) => [k, Math.round(v)])));
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${ms.toFixed(digits).padStart(7 + digits)} ms  ${name.slice(0, 150)}`);
  }
}
