// The fallbacks where Background Sync is missing, in Firefox (Debian's
// firefox-esr, driven by puppeteer-core over WebDriver BiDi): see fallbacks.mjs.
import { fallbackTests } from "./fallbacks.mjs";

fallbackTests("firefox");
