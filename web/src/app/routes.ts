// Every page of the client. Pages load on demand: each becomes its own chunk.

import type { Route } from "./router";

export const ROUTES: Route[] = [
  { path: "/", load: () => import("../pages/dashboard"), access: "user" },
  { path: "/meetings/new", load: () => import("../pages/meeting-form"), access: "user" },
  { path: "/meetings/:id/edit", load: () => import("../pages/meeting-form"), access: "user" },
  { path: "/meetings/:id", load: () => import("../pages/meeting"), access: "user" },
  { path: "/signin", load: () => import("../pages/signin"), access: "guest" },
  { path: "/signup", load: () => import("../pages/signup"), access: "guest" },
  { path: "/forgot-password", load: () => import("../pages/forgot-password"), access: "guest" },
  // Anyone: the mail's link must work even in a browser where someone is signed in.
  { path: "/reset-password", load: () => import("../pages/reset-password"), access: "anyone" },
  { path: "/profile", load: () => import("../pages/profile"), access: "user" },
  { path: "/join/:id", load: () => import("../pages/join"), access: "user", chrome: false },
  { path: "/media", load: () => import("../pages/media"), access: "user" },
  { path: "/admin/users", load: () => import("../pages/admin-users"), access: "admin" },
  { path: "/admin/meetings", load: () => import("../pages/admin-meetings"), access: "admin" },
  { path: "*", load: () => import("../pages/notfound"), access: "anyone" },
];
