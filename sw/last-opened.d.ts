/** The database, object store and key that record the outbox a page opened last. */
export const LAST_OPENED_DB: string;
export const LAST_OPENED_STORE: string;
export const LAST_OPENED_KEY: string;
/** The outbox database a page of this origin opened last, or null when none has. */
export function lastOpenedDatabase(): Promise<string | null>;
