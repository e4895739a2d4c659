// The fallbacks where Background Sync is missing, in WebKit, the Safari engine
// (WebKitGTK's MiniBrowser through WebKitWebDriver, under xvfb-run): see fallbacks.mjs.
import { fallbackTests } from "./fallbacks.mjs";

fallbackTests("webkit");
