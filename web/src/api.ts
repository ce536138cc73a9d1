// The REST API under /api/v1, as a browser uses it: HttpOnly session cookies set by login, and
// the readable `csrf_token` cookie echoed in `X-CSRF-Token` on unsafe requests.

const BASE = "/api/v1";
const CSRF_COOKIE = "csrf_token";
const CSRF_HEADER = "X-CSRF-Token";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface User {
  id: string;
  username: string;
  email: string;
  display_name: string;
}

export interface JoinTicket {
  signaling_url: string;
  join_token: string;
  participant_id: string;
  role: string;
  ice_servers: RTCIceServer[];
  meeting: { id: string; title: string };
}

export interface Waiting {
  meeting_id: string;
  requested_at: string;
}

function cookie(name: string): string | null {
  for (const part of document.cookie.split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return decodeURIComponent(value.join("="));
  }
  return null;
}

const FRIENDLY: Record<string, string> = {
  invalid_credentials: "That username or password is not right.",
  meeting_not_found: "There is no such meeting, or you are not invited to it.",
  removed_from_meeting: "You were removed from this meeting.",
  lobby_denied: "The host declined your request to join.",
  invalid_invite: "The invite link is invalid or has expired.",
  invite_used_up: "The invite link has been used up.",
  meeting_full: "The meeting is full.",
  meeting_ended: "The meeting has ended.",
  password_required: "This meeting needs a password.",
  rate_limited: "Too many attempts. Wait a moment and try again.",
};

async function send<T>(method: string, path: string, body?: unknown): Promise<[number, T]> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = cookie(CSRF_COOKIE);
  if (method !== "GET" && csrf) headers[CSRF_HEADER] = csrf;
  const response = await fetch(BASE + path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data: unknown = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const problem = (data ?? {}) as { code?: string; detail?: string; title?: string };
    const code = problem.code ?? `http_${response.status}`;
    throw new ApiError(
      response.status,
      code,
      FRIENDLY[code] ?? problem.detail ?? problem.title ?? response.statusText,
    );
  }
  return [response.status, data as T];
}

let refreshing: Promise<boolean> | null = null;

async function refresh(): Promise<boolean> {
  refreshing ??= send("POST", "/auth/refresh")
    .then(() => true)
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** One request; an expired access cookie is refreshed once (the refresh cookie rotates). */
export async function request<T>(method: string, path: string, body?: unknown): Promise<[number, T]> {
  try {
    return await send<T>(method, path, body);
  } catch (error) {
    // No CSRF cookie means no session was ever set up here: nothing to refresh.
    const signedIn = cookie(CSRF_COOKIE) !== null;
    if (error instanceof ApiError && error.status === 401 && signedIn && !path.startsWith("/auth/")) {
      if (await refresh()) return send<T>(method, path, body);
    }
    throw error;
  }
}

export async function login(login: string, password: string): Promise<User> {
  const [, body] = await send<{ user: User }>("POST", "/auth/login", { login, password });
  return body.user;
}

export async function logout(): Promise<void> {
  await send("POST", "/auth/logout");
}

/** The signed-in user, or null. */
export async function currentUser(): Promise<User | null> {
  try {
    const [, user] = await request<User>("GET", "/users/me");
    return user;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}

export async function createMeeting(title: string): Promise<{ id: string }> {
  const [, meeting] = await request<{ id: string }>("POST", "/meetings", { title });
  return meeting;
}

/** Join: a ticket for the media node, or `Waiting` while a host decides (lobby). */
export async function joinMeeting(
  meetingId: string,
  inviteToken: string | null,
): Promise<JoinTicket | Waiting> {
  const body = inviteToken ? { invite_token: inviteToken } : {};
  const [status, data] = await request<JoinTicket | Waiting>(
    "POST",
    `/meetings/${encodeURIComponent(meetingId)}/join`,
    body,
  );
  return status === 202 ? (data as Waiting) : (data as JoinTicket);
}

export async function leaveMeeting(meetingId: string): Promise<void> {
  await request("POST", `/meetings/${encodeURIComponent(meetingId)}/leave`);
}
