// The bench page: runs page benchmarks itself and forwards drain benchmarks
// to the bench service worker (where Workbox's Queue works). Driven by
// bench/browser/run.mjs through `window.bench`.
import * as lib from "./lib.mjs";

async function inServiceWorker(name, params) {
  const registration = await navigator.serviceWorker.ready;
  const channel = new MessageChannel();
  const answer = new Promise((resolve, reject) => {
    channel.port1.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data.value));
  });
  registration.active.postMessage({ name, params }, [channel.port2]);
  return answer;
}

/** Starts a fresh module worker and resolves to its milliseconds from start to ready. */
function startup(kind, database) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(`/startup-${kind}.js?db=${encodeURIComponent(database)}`, { type: "module" });
    worker.onmessage = ({ data }) => {
      worker.terminate();
      data.error ? reject(new Error(data.error)) : resolve(data.ms);
    };
    worker.onerror = (e) => reject(new Error(e.message));
  });
}

async function createForStartup(database) {
  const outbox = await lib.openOurs(database);
  outbox.close();
}

window.bench = { ...lib, inServiceWorker, startup, createForStartup };
window.benchReady = navigator.serviceWorker
  .register("/sw.js", { type: "module", scope: "/" })
  .then(() => navigator.serviceWorker.ready)
  .then(() => lib.ready())
  .then(() => true);
