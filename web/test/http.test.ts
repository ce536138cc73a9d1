import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError, onSessionExpired, request, Unreachable } from "../src/api/http";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

describe("the API client", () => {
  beforeEach(() => {
    setLocale("en");
    document.cookie = "csrf_token=abc";
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    document.cookie = "csrf_token=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
  });

  it("sends the CSRF cookie back on unsafe requests", async () => {
    const fetch = vi.fn(async () => json(200, { ok: true }));
    vi.stubGlobal("fetch", fetch);
    await request("POST", "/meetings", { body: { title: "x" } });
    const init = (fetch.mock.calls[0] as unknown as [string, RequestInit])[1];
    expect((init.headers as Record<string, string>)["X-CSRF-Token"]).toBe("abc");
  });

  it("refreshes an expired session once and repeats the request", async () => {
    const answers = [json(401, { code: "token_expired" }), json(200, {}), json(200, { id: "me" })];
    const fetch = vi.fn(async () => answers.shift()!);
    vi.stubGlobal("fetch", fetch);
    const [, body] = await request<{ id: string }>("GET", "/users/me");
    expect(body.id).toBe("me");
    expect(fetch.mock.calls.map((call) => (call as unknown as [string])[0])).toEqual([
      "/api/v1/users/me",
      "/api/v1/auth/refresh",
      "/api/v1/users/me",
    ]);
  });

  it("reports an expired session when the refresh fails", async () => {
    const answers = [json(401, { code: "token_expired" }), json(401, { code: "invalid_refresh_token" })];
    vi.stubGlobal("fetch", vi.fn(async () => answers.shift()!));
    const expired = vi.fn();
    onSessionExpired(expired);
    await expect(request("GET", "/users/me")).rejects.toBeInstanceOf(ApiError);
    expect(expired).toHaveBeenCalledOnce();
  });

  it("reports an ended session without trying to refresh when the cookies are gone", async () => {
    document.cookie = "csrf_token=; expires=Thu, 01 Jan 1970 00:00:00 GMT";
    const fetch = vi.fn(async () => json(401, { code: "unauthenticated" }));
    vi.stubGlobal("fetch", fetch);
    const expired = vi.fn();
    onSessionExpired(expired);
    await expect(request("GET", "/users/me")).rejects.toBeInstanceOf(ApiError);
    expect(fetch).toHaveBeenCalledOnce();
    expect(expired).toHaveBeenCalledOnce();
  });

  it("turns problem details into messages in the reader's language", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json(409, { code: "meeting_full", detail: "full" })));
    await expect(request("POST", "/meetings/x/join")).rejects.toMatchObject({
      status: 409,
      code: "meeting_full",
      message: "The meeting is full.",
    });
    setLocale("zh-CN");
    vi.stubGlobal("fetch", vi.fn(async () => json(429, { code: "rate_limited" }, { "Retry-After": "7" })));
    await expect(request("POST", "/auth/login")).rejects.toMatchObject({ message: "尝试次数过多，请稍后再试。", retryAfter: 7 });
    vi.stubGlobal("fetch", vi.fn(async () => json(400, { code: "brand_new", detail: "Plain detail" })));
    await expect(request("GET", "/x")).rejects.toMatchObject({ message: "Plain detail" });
  });

  it("says the server cannot be reached when there is no answer", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    await expect(request("GET", "/users/me")).rejects.toBeInstanceOf(Unreachable);
  });
});
