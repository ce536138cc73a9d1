// Accounts and sessions: sign in/out, the signed-in user.

import { ApiError, get, post, request } from "./http";

export interface User {
  id: string;
  username: string;
  display_name: string;
  avatar_url: string | null;
  email: string;
  role: "user" | "admin";
  status: string;
  locale: string;
  created_at: string;
  last_login_at: string | null;
}

export async function login(login: string, password: string): Promise<User> {
  const [, body] = await request<{ user: User }>("POST", "/auth/login", { body: { login, password } });
  return body.user;
}

export async function logout(): Promise<void> {
  await post("/auth/logout");
}

/** The signed-in user, or null. */
export async function currentUser(): Promise<User | null> {
  try {
    return await get<User>("/users/me");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return null;
    throw error;
  }
}
