// The floor: indexedDB.open() of the same database alone. Reports
// milliseconds since this worker started.
const open = indexedDB.open(new URL(location.href).searchParams.get("db"));
open.onsuccess = () => {
  const ms = performance.now();
  open.result.close();
  postMessage({ ms });
};
open.onerror = () => postMessage({ error: String(open.error) });
