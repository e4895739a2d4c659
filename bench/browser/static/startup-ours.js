// Start-up as a service worker pays it: load the glue, instantiate the wasm,
// open the outbox. Reports milliseconds since this worker started.
import init, { Outbox } from "/pkg/outbox_sync.js";

try {
  await init();
  const outbox = await Outbox.open(new URL(location.href).searchParams.get("db"));
  const ms = performance.now();
  outbox.close();
  postMessage({ ms });
} catch (error) {
  postMessage({ error: String(error) });
}
