// Sizes of a wasm module by item: every function body and data segment, named
// from the module's "name" section, grouped by crate and by kind. What twiggy's
// `top` gives (shallow sizes), without installing it. Used by
// scripts/size-budget.mjs; run alone to print the breakdown:
//   node scripts/wasm-items.mjs pkg/outbox_sync_bg.wasm 40 target/size/outbox_sync_bg.symbols
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Reads an unsigned LEB128 at `at`; returns [value, next offset]. */
function leb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

function utf8(bytes, at) {
  const [length, start] = leb(bytes, at);
  return [new TextDecoder().decode(bytes.subarray(start, start + length)), start + length];
}

/**
 * The module's items: { kind: "code" | "data" | "section", index, name, size }.
 * A function's size is its body with its length prefix; sections other than
 * code and data count as one item each (types, imports, exports, ...).
 */
export function wasmItems(bytes, extraNames = new Map()) {
  if (bytes.readUInt32LE(0) !== 0x6d736100) throw new Error("not a wasm module");
  const sectionNames = ["custom", "type", "import", "function", "table", "memory", "global", "export", "start", "element", "code", "data", "data count"];
  const items = [];
  const names = new Map();
  let importedFunctions = 0;
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at];
    const [size, start] = leb(bytes, at + 1);
    const end = start + size;
    const header = start - at;
    if (id === 2) {
      let [count, p] = leb(bytes, start);
      for (let i = 0; i < count; i++) {
        [, p] = utf8(bytes, p);
        [, p] = utf8(bytes, p);
        const kind = bytes[p++];
        if (kind === 0) { importedFunctions++; [, p] = leb(bytes, p); }
        else if (kind === 1) { p++; const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 2) { const flags = bytes[p++]; [, p] = leb(bytes, p); if (flags & 1) [, p] = leb(bytes, p); }
        else if (kind === 3) { p += 2; }
        else if (kind === 4) { p++; [, p] = leb(bytes, p); }
      }
      items.push({ kind: "section", index: -1, name: "import section", size: size + header });
    } else if (id === 10) {
      let [count, p] = leb(bytes, start);
      items.push({ kind: "section", index: -1, name: "code section header", size: p - at });
      for (let i = 0; i < count; i++) {
        const [bodySize, body] = leb(bytes, p);
        items.push({ kind: "code", index: importedFunctions + i, name: null, size: body + bodySize - p });
        p = body + bodySize;
      }
    } else if (id === 11) {
      let [count, p] = leb(bytes, start);
      items.push({ kind: "section", index: -1, name: "data section header", size: p - at });
      for (let i = 0; i < count; i++) {
        const segStart = p;
        const [flags, q] = leb(bytes, p);
        p = q;
        if (flags === 2) [, p] = leb(bytes, p);
        if (flags !== 1) { while (bytes[p] !== 0x0b) p++; p++; }
        const [length, data] = leb(bytes, p);
        p = data + length;
        items.push({ kind: "data", index: i, name: `data segment ${i}`, size: p - segStart });
      }
    } else if (id === 0) {
      const [name, p] = utf8(bytes, start);
      if (name === "name") {
        let q = p;
        while (q < end) {
          const sub = bytes[q];
          const [subSize, subStart] = leb(bytes, q + 1);
          if (sub === 1) {
            let [count, r] = leb(bytes, subStart);
            for (let i = 0; i < count; i++) {
              let index, fn;
              [index, r] = leb(bytes, r);
              [fn, r] = utf8(bytes, r);
              names.set(index, fn);
            }
          }
          q = subStart + subSize;
        }
      }
      items.push({ kind: "section", index: -1, name: `custom section "${name}"`, size: size + header });
    } else {
      items.push({ kind: "section", index: -1, name: `${sectionNames[id] ?? id} section`, size: size + header });
    }
    at = end;
  }
  for (const item of items) {
    if (item.kind === "code") {
      item.name = extraNames.get(item.index) ?? names.get(item.index) ?? `function ${item.index}`;
    }
  }
  return items;
}

/**
 * Rust's v0 mangling (`_RNvNtCs1a_4core3fmt5write`) made roughly readable:
 * the identifiers of the path, joined by `::` (generic arguments and
 * disambiguators are dropped; enough to name and group an item).
 */
function demangleV0(name) {
  const parts = [];
  const body = name.slice(2);
  let at = 0;
  while (at < body.length) {
    const c = body[at];
    if (c >= "0" && c <= "9") {
      let digits = "";
      while (body[at] >= "0" && body[at] <= "9") digits += body[at++];
      if (body[at] === "_") at++;
      parts.push(body.slice(at, at + Number(digits)));
      at += Number(digits);
      continue;
    }
    // Disambiguators and back references: s<base62>_, B<base62>_.
    const skipped = /^[sB][0-9a-zA-Z]*_/.exec(body.slice(at));
    at += skipped ? skipped[0].length : 1;
  }
  return parts.filter(Boolean).join("::");
}

/** Legacy Rust mangling (`_ZN3foo3bar17h0123456789abcdefE`) made readable. */
export function demangle(name) {
  if (name.startsWith("_R")) return demangleV0(name);
  // Names binaryen kept: hashes and crate disambiguators add nothing here.
  name = name.replace(/::h[0-9a-f]{16}\b/g, "").replace(/\[[0-9a-f]{16}\]/g, "");
  const legacy = /_ZN((?:\d+[^\d][^]*?)+)E/;
  const match = name.match(legacy);
  if (!match) return name;
  const parts = [];
  let rest = match[1];
  while (rest.length) {
    const digits = rest.match(/^\d+/);
    if (!digits) break;
    const n = Number(digits[0]);
    parts.push(rest.slice(digits[0].length, digits[0].length + n));
    rest = rest.slice(digits[0].length + n);
  }
  if (parts.length && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1])) parts.pop();
  const text = parts.join("::")
    .replace(/\$LT\$/g, "<").replace(/\$GT\$/g, ">").replace(/\$RF\$/g, "&").replace(/\$BP\$/g, "*")
    .replace(/\$u20\$/g, " ").replace(/\$u7b\$/g, "{").replace(/\$u7d\$/g, "}").replace(/\$u5b\$/g, "[")
    .replace(/\$u5d\$/g, "]").replace(/\$u27\$/g, "'").replace(/\$C\$/g, ",").replace(/\.\./g, "::");
  return name.replace(match[0], text);
}

/** The crate an item belongs to: its path's first segment, or for
 * `<Type as Trait>` the type's crate (the trait's when the type is
 * primitive or generic). */
export function crateOf(item) {
  if (item.kind !== "code") return item.kind === "data" ? "(data segments)" : "(wasm sections)";
  const name = demangle(item.name).replace(/^_(?=<)/, "");
  if (/shim$|^__externref|^__wbindgen|^__wbg/.test(name)) return "wasm_bindgen (shims)";
  const impl = name.match(/^<(?:&|\*|mut |const |dyn |\[)*([^ >;\]]+)[^ ]* as (?:&|dyn )*([A-Za-z_][A-Za-z0-9_]*)::/);
  if (impl) return impl[1].match(/^([A-Za-z_][A-Za-z0-9_]*)::/)?.[1] ?? impl[2];
  if (/^<(char|str|u\d+|i\d+|f\d+|bool|usize|isize)>::/.test(name)) return "core";
  const match = name.replace(/^<+/, "").match(/^([A-Za-z_][A-Za-z0-9_]*)::/);
  if (match) return match[1];
  if (/^(memcpy|memset|memmove|memcmp|__rust|rust_)/.test(name)) return "(runtime)";
  return "(unnamed)";
}

/** What an item is: an async state machine, serde, fmt, ... (first match). */
export function kindOf(item) {
  if (item.kind !== "code") return item.kind === "data" ? "data" : "sections";
  const name = demangle(item.name);
  if (/\{\{closure\}\}|Future|poll/.test(name)) return "async / closures";
  if (/serde|Serialize|Deserialize|Visitor/.test(name)) return "serde";
  if (/core::fmt|Display|Debug|fmt::/.test(name)) return "fmt";
  if (/panic|unwrap_failed|expect_failed/.test(name)) return "panics";
  if (/wasm_bindgen|__wbg|__wbindgen|js_sys|web_sys/.test(name)) return "JS bindings";
  return "other code";
}

/** The breakdown as text: top items, then by crate and by kind. */
export function breakdown(bytes, top = 25, names = new Map()) {
  const items = wasmItems(bytes, names);
  const total = items.reduce((sum, item) => sum + item.size, 0);
  const pct = (n) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;
  const lines = [];
  lines.push(`top ${top} items of ${items.length} (${total} B, shallow sizes):`);
  for (const item of [...items].sort((a, b) => b.size - a.size || a.index - b.index).slice(0, top)) {
    lines.push(`  ${String(item.size).padStart(7)} B ${pct(item.size)}  ${demangle(item.name).slice(0, 110)}`);
  }
  for (const [title, key] of [["by crate", crateOf], ["by kind", kindOf]]) {
    const groups = new Map();
    for (const item of items) {
      const k = key(item);
      const g = groups.get(k) ?? { size: 0, count: 0 };
      g.size += item.size;
      g.count++;
      groups.set(k, g);
    }
    lines.push(`${title}:`);
    for (const [k, g] of [...groups].sort((a, b) => b[1].size - a[1].size || (a[0] < b[0] ? -1 : 1))) {
      lines.push(`  ${String(g.size).padStart(7)} B ${pct(g.size)}  ${k} (${g.count})`);
    }
  }
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top, symbols] = process.argv.slice(2);
  if (!file) {
    console.error("usage: node scripts/wasm-items.mjs <module.wasm> [top] [symbol map]");
    process.exit(2);
  }
  const names = new Map();
  if (symbols) {
    for (const line of readFileSync(symbols, "utf8").split("\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) names.set(Number(line.slice(0, colon)), line.slice(colon + 1));
    }
  }
  console.log(breakdown(readFileSync(file), Number(top ?? 25), names));
}
