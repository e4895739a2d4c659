// The ~1 KB record every benchmark writes, shared by the browser code and
// the Node driver (which seeds the server for the pull benchmarks).

/** A ~1 KB record's fields; `i` makes each one different. */
export function fieldsOf(i) {
  return {
    title: `Inspection ${i}: pump ${i % 97} leaks at the flange`,
    priority: i % 3 === 0 ? "high" : "normal",
    done: false,
    count: i,
    body: "The seal on the north side drips about once a second; replace gasket, check torque. ".repeat(10).slice(0, 880),
  };
}

/** The fields of query-benchmark record `i`: the ~1 KB record, one of `sites` sites, and its number. */
export function queryFields(i, sites) {
  return { ...fieldsOf(i), site: siteOf(i % sites), count: i };
}

/** The name of site `k` (zero-padded, so names sort as numbers). */
export const siteOf = (k) => `site-${String(k).padStart(5, "0")}`;
