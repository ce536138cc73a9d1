// The REST API under /api/v1, as a browser uses it: HttpOnly session cookies set by login, and
// the readable `csrf_token` cookie echoed in `X-CSRF-Token` on unsafe requests. An expired access
// cookie is refreshed once, invisibly; when that fails the app returns to sign-in (see
// `onSessionExpired`). Errors are RFC 9457 problem documents: `ApiError` carries their stable
// `code` and a message in the reader's language.

import { t } from "../i18n";

const BASE = "/api/v1";
const CSRF_COOKIE = "csrf_token";
const CSRF_HEADER = "X-CSRF-Token";

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: FieldError[] = [],
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** A network failure (no HTTP answer at all). */
export class Unreachable extends Error {
  constructor() {
    super(t("common.unreachable"));
  }
}

interface Problem {
  code?: string;
  detail?: string;
  title?: string;
  errors?: FieldError[];
}

export function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

/** A problem document in the reader's language: a translation of its code when there is one. */
export function describeProblem(status: number, problem: Problem): string {
  const code = problem.code ?? `http_${status}`;
  const key = `error.${code}`;
  const translated = t(key, { code, detail: problem.errors?.map((e) => e.message).join("; ") ?? "" });
  if (translated !== key) return translated;
  return problem.detail ?? problem.title ?? t("error.unknown", { code });
}

let sessionExpired: () => void = () => undefined;

/** Called when a signed-in session can no longer be refreshed (the router goes to sign-in). */
export function onSessionExpired(handler: () => void): void {
  sessionExpired = handler;
}

export interface RequestOptions {
  body?: unknown;
  /** A raw body (FormData, Blob) sent as it is. */
  raw?: BodyInit;
  signal?: AbortSignal;
  /** Read the answer as bytes (a download, audio) and ask for this type; errors stay problem
   * documents. */
  blob?: string;
}

async function send<T>(method: string, path: string, options: RequestOptions = {}): Promise<[number, T]> {
  const headers: Record<string, string> = { Accept: options.blob ?? "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = cookie(CSRF_COOKIE);
  if (method !== "GET" && csrf) headers[CSRF_HEADER] = csrf;
  let response: Response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      credentials: "same-origin",
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new Unreachable();
  }
  if (response.ok && options.blob !== undefined) return [response.status, (await response.blob()) as T];
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem = (data ?? {}) as Problem;
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(
      response.status,
      problem.code ?? `http_${response.status}`,
      describeProblem(response.status, problem),
      problem.errors ?? [],
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
  }
  return [response.status, data as T];
}

let refreshing: Promise<boolean> | null = null;

/** Rotate the session once, however many requests found it expired at the same time. */
export function refreshSession(): Promise<boolean> {
  refreshing ??= send("POST", "/auth/refresh")
    .then(() => true)
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** One request; an expired access cookie is refreshed once and the request repeated. */
export async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<[number, T]> {
  try {
    return await send<T>(method, path, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && !path.startsWith("/auth/")) {
      // No CSRF cookie means no session cookies either (they are set and cleared together):
      // nothing to refresh. Either way the session is over; the handler knows whether the app
      // thought someone was signed in.
      const refreshable = cookie(CSRF_COOKIE) !== null;
      if (refreshable && (await refreshSession())) return send<T>(method, path, options);
      sessionExpired();
    }
    throw error;
  }
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request<T>("GET", path, { signal }))[1];
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  return (await request<T>("POST", path, { body }))[1];
}

export async function patch<T>(path: string, body: unknown): Promise<T> {
  return (await request<T>("PATCH", path, { body }))[1];
}

export async function put<T>(path: string, body?: unknown): Promise<T> {
  return (await request<T>("PUT", path, { body }))[1];
}

/** Bytes from `path` (a file to save, a sound to play), with the session cookie. */
export async function getBlob(path: string, accept: string, signal?: AbortSignal): Promise<Blob> {
  return (await request<Blob>("GET", path, { blob: accept, signal }))[1];
}

export async function postBlob(path: string, body: unknown, accept: string, signal?: AbortSignal): Promise<Blob> {
  return (await request<Blob>("POST", path, { body, blob: accept, signal }))[1];
}

export async function del(path: string): Promise<void> {
  await request("DELETE", path);
}

/** `?a=1&b=2` from the defined values. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

/** A page of a list endpoint (`?page=1&page_size=20`). */
export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  page_size: number;
}
