// The service-worker entry, as an app's worker uses it.
import { installOutboxSync } from "outbox-sync/sw";
import type { Outbox } from "outbox-sync";

declare const self: { addEventListener(type: string, listener: (event: any) => void): void };

const outbox: () => Promise<Outbox> = installOutboxSync(self, { database: "my-app" });
installOutboxSync(self, { database: async () => "my-app:" + (await Promise.resolve("ana")) });
void outbox;
