// Every page of the client. Pages load on demand: each becomes its own chunk.

import type { Route } from "./router";

export const ROUTES: Route[] = [
  { path: "/", load: () => import("../pages/dashboard"), access: "user" },
  { path: "/meetings/new", load: () => import("../pages/meeting-form"), access: "user" },
  { path: "/meetings/:id/edit", load: () => import("../pages/meeting-form"), access: "user" },
  { path: "/signin", load: () => import("../pages/signin"), access: "guest" },
  { path: "/join/:id", load: () => import("../pages/join"), access: "user", chrome: false },
  { path: "*", load: () => import("../pages/notfound"), access: "anyone" },
];
