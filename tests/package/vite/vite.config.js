// The Vite app's config, as the README tells a user to write it.
import { outboxSync } from "outbox-sync/vite";

export default { plugins: [outboxSync()] };
