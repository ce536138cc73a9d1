// Accounts and sessions: sign up, sign in/out, password reset, the signed-in user's profile.

import { ApiError, del, get, patch, post, request } from "./http";

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

export interface Registration {
  username: string;
  email: string;
  password: string;
  display_name?: string;
}

/** What PATCH /users/me accepts; `current_password` is needed to change the email. */
export interface ProfileChange {
  display_name?: string;
  email?: string;
  locale?: string;
  current_password?: string;
}

export async function login(login: string, password: string): Promise<User> {
  const [, body] = await request<{ user: User }>("POST", "/auth/login", { body: { login, password } });
  return body.user;
}

export async function logout(): Promise<void> {
  await post("/auth/logout");
}

export async function register(data: Registration): Promise<User> {
  return post<User>("/auth/register", data);
}

/** Always answers the same, whether or not an account uses that email. */
export async function requestPasswordReset(email: string): Promise<void> {
  await post("/auth/password-reset/request", { email });
}

export async function confirmPasswordReset(token: string, newPassword: string): Promise<void> {
  await post("/auth/password-reset/confirm", { token, new_password: newPassword });
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

export async function updateProfile(change: ProfileChange): Promise<User> {
  return patch<User>("/users/me", change);
}

export async function changePassword(currentPassword: string, newPassword: string): Promise<void> {
  await post("/users/me/password", { current_password: currentPassword, new_password: newPassword });
}

export async function uploadAvatar(file: File): Promise<User> {
  const form = new FormData();
  form.append("file", file);
  const [, user] = await request<User>("PUT", "/users/me/avatar", { raw: form });
  return user;
}

/** Deletes the account for good (the server signs it out everywhere). */
export async function deleteAccount(): Promise<void> {
  await del("/users/me");
}
