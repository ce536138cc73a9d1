// The server's rules for account fields (shared/meeting_shared/services/accounts.py), checked
// here first so that people see what is wrong before sending the form. The server still decides:
// its answers are mapped back onto the fields by `fieldErrors`.

import { ApiError } from "../api/http";
import { t } from "../i18n";

export const USERNAME_PATTERN = /^[A-Za-z0-9_.-]{3,32}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;
export const PASSWORD_MIN_DISTINCT = 4;
export const DISPLAY_NAME_MAX = 64;

/** Field name → message key (translated by the caller). */
export type Problems = Record<string, string>;

export type PasswordRule = "length" | "distinct" | "not_identity";

/** Each password rule and whether `password` meets it (the list shown next to the field). */
export function passwordRules(
  password: string,
  identity: { username?: string; email?: string } = {},
): Record<PasswordRule, boolean> {
  const lowered = password.toLowerCase();
  const names = [identity.username, identity.email].filter((name): name is string => !!name);
  return {
    length: password.length >= PASSWORD_MIN && password.length <= PASSWORD_MAX,
    distinct: new Set(password).size >= PASSWORD_MIN_DISTINCT,
    not_identity: password.length > 0 && !names.some((name) => name.trim().toLowerCase() === lowered),
  };
}

/** Problems with a new password and its repetition, keyed `password` and `confirm`. */
export function checkNewPassword(
  password: string,
  confirm: string,
  identity: { username?: string; email?: string } = {},
): Problems {
  const problems: Problems = {};
  if (!password) problems.password = "account.required";
  else if (!Object.values(passwordRules(password, identity)).every(Boolean)) problems.password = "account.password_rules_unmet";
  if (password && confirm !== password) problems.confirm = "account.password_mismatch";
  return problems;
}

export function checkUsername(username: string): string | null {
  if (!username.trim()) return "account.required";
  return USERNAME_PATTERN.test(username.trim()) ? null : "account.username_invalid";
}

/** Deliberately loose: the server validates properly; this catches typos like a missing @. */
export function checkEmail(email: string): string | null {
  if (!email.trim()) return "account.required";
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim()) ? null : "account.email_invalid";
}

export function checkDisplayName(name: string, required: boolean): string | null {
  if (!name.trim()) return required ? "account.required" : null;
  return name.trim().length <= DISPLAY_NAME_MAX ? null : "account.display_name_too_long";
}

export interface SignUpForm {
  username: string;
  email: string;
  display_name: string;
  password: string;
  confirm: string;
}

export function checkSignUp(form: SignUpForm): Problems {
  const problems: Problems = checkNewPassword(form.password, form.confirm, form);
  const username = checkUsername(form.username);
  const email = checkEmail(form.email);
  const displayName = checkDisplayName(form.display_name, false);
  if (username) problems.username = username;
  if (email) problems.email = email;
  if (displayName) problems.display_name = displayName;
  return problems;
}

// Problem codes that belong to one field of our forms.
const CODE_FIELDS: Record<string, string> = {
  username_taken: "username",
  email_taken: "email",
  weak_password: "password",
  wrong_password: "current_password",
  password_confirmation_required: "current_password",
};

/**
 * The fields an API error is about, with the message to show there. `rename` maps the API's
 * field names onto the form's (e.g. the API's `new_password` is the form's `password`). Errors
 * about no particular field come back under `""`.
 */
export function fieldErrors(error: ApiError, rename: Record<string, string> = {}): Record<string, string> {
  const result: Record<string, string> = {};
  const named = (field: string) => rename[field] ?? field;
  const byCode = CODE_FIELDS[error.code];
  if (byCode) {
    // The API says `wrong_password` for meeting passwords too: here it is the account's own.
    result[named(byCode)] =
      error.code === "wrong_password" ? t("account.wrong_current_password") : error.message;
    return result;
  }
  for (const item of error.fields) {
    // "body.new_password" -> "new_password"
    const field = named(item.field.split(".").pop() ?? "");
    if (field && !(field in result)) result[field] = item.message;
  }
  if (Object.keys(result).length === 0) result[""] = error.message;
  return result;
}
