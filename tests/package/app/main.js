// A throwaway app that uses the installed package the way a web developer would.
import init, { Outbox } from "outbox-sync";

const token = new URLSearchParams(location.search).get("token");
await init();
const outbox = await Outbox.open("packaged-app");
await outbox.connect({ serverUrl: location.origin, token });
globalThis.app = { outbox };
document.body.dataset.ready = "true";
