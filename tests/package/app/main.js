// A throwaway app that uses the installed package the way a web developer would.
import init, { Outbox } from "outbox-sync";

const token = new URLSearchParams(location.search).get("token");
await init();
const outbox = await Outbox.open("packaged-app");
await outbox.connect({ serverUrl: location.origin, token });
globalThis.app = { outbox };
// Module workers only; a test with service workers blocked gets a rejection, which is fine.
globalThis.swRegistered = navigator.serviceWorker
  ?.register("./sw.js", { type: "module" })
  .then(() => "registered", (error) => `not registered: ${error.message}`);
document.body.dataset.ready = "true";
