// Every page of the client. Pages load on demand: each becomes its own chunk.

import type { Route } from "./router";

export const ROUTES: Route[] = [
  { path: "/", load: () => import("../pages/dashboard"), access: "user" },
  { path: "/signin", load: () => import("../pages/signin"), access: "guest" },
  { path: "/join/:id", load: () => import("../pages/join"), access: "user", chrome: false },
  { path: "/media", load: () => import("../pages/media"), access: "user" },
  { path: "/admin/users", load: () => import("../pages/admin-users"), access: "admin" },
  { path: "/admin/meetings", load: () => import("../pages/admin-meetings"), access: "admin" },
  { path: "*", load: () => import("../pages/notfound"), access: "anyone" },
];
