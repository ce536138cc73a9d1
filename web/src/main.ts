// The browser client: routes (app/routes.ts) render pages (pages/) inside the frame
// (app/layout.ts); the state they share lives in app/store.ts, the REST API in api/, the room's
// signaling and media in room/, messages in both languages in i18n/.

import "./style.css";
import "./i18n/catalogs";
import { frame } from "./app/layout";
import { startRouter } from "./app/router";
import { ROUTES } from "./app/routes";
import { locale, setLocale } from "./i18n";

let cleanup: (() => void) | void = undefined;

setLocale(locale());
startRouter(ROUTES, async (page, ctx, route) => {
  if (typeof cleanup === "function") cleanup();
  cleanup = undefined;
  const root = frame(route.chrome !== false);
  cleanup = await page(root, ctx);
});
