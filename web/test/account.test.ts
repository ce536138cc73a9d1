import { afterEach, describe, expect, it } from "vitest";
import "../src/i18n/catalogs";
import { field, passwordRulesList, showErrors } from "../src/account/form";
import { checkEmail, checkNewPassword, checkSignUp, checkUsername, fieldErrors, passwordRules } from "../src/account/rules";
import { ApiError } from "../src/api/http";
import type { User } from "../src/api/account";
import { getState, signedIn, update } from "../src/app/store";
import { locale, setLocale } from "../src/i18n";

describe("password rules (as the server checks them)", () => {
  it("need 8 to 128 characters", () => {
    expect(passwordRules("abcd123").length).toBe(false);
    expect(passwordRules("abcd1234").length).toBe(true);
    expect(passwordRules("abcd".repeat(32)).length).toBe(true);
    expect(passwordRules("abcd".repeat(32) + "x").length).toBe(false);
  });

  it("need 4 different characters", () => {
    expect(passwordRules("aaaaaaab").distinct).toBe(false);
    expect(passwordRules("aabbccdd").distinct).toBe(true);
  });

  it("refuse the username or the email, in any case", () => {
    const identity = { username: "ann_lee", email: "Ann@Example.com" };
    expect(passwordRules("ANN_LEE", identity).not_identity).toBe(false);
    expect(passwordRules("ann@example.com", identity).not_identity).toBe(false);
    expect(passwordRules("ann_lee!", identity).not_identity).toBe(true);
  });

  it("report each problem of a new password on its field", () => {
    expect(checkNewPassword("", "")).toEqual({ password: "account.required" });
    expect(checkNewPassword("aaaaaaaa", "aaaaaaaa")).toEqual({ password: "account.password_rules_unmet" });
    expect(checkNewPassword("correct horse", "correct horsE")).toEqual({ confirm: "account.password_mismatch" });
    expect(checkNewPassword("correct horse", "correct horse")).toEqual({});
  });
});

describe("sign-up checks", () => {
  it("take usernames the server takes", () => {
    expect(checkUsername("ann.lee-2_x")).toBeNull();
    expect(checkUsername("  ann  ")).toBeNull(); // the server strips spaces too
    expect(checkUsername("an")).toBe("account.username_invalid");
    expect(checkUsername("ann lee")).toBe("account.username_invalid");
    expect(checkUsername("a".repeat(33))).toBe("account.username_invalid");
    expect(checkUsername("")).toBe("account.required");
  });

  it("catch obvious email typos", () => {
    expect(checkEmail("ann@example.com")).toBeNull();
    expect(checkEmail("ann.example.com")).toBe("account.email_invalid");
    expect(checkEmail("ann@example")).toBe("account.email_invalid");
  });

  it("check the whole form at once", () => {
    const form = { username: "ann", email: "ann@example.com", display_name: "", password: "ann", confirm: "x" };
    expect(checkSignUp(form)).toEqual({ password: "account.password_rules_unmet", confirm: "account.password_mismatch" });
    expect(checkSignUp({ ...form, display_name: "x".repeat(65), password: "correct horse", confirm: "correct horse" })).toEqual({
      display_name: "account.display_name_too_long",
    });
  });
});

describe("API errors on form fields", () => {
  it("put known codes on their field", () => {
    expect(fieldErrors(new ApiError(409, "username_taken", "taken"))).toEqual({ username: "taken" });
    // `wrong_password` also means a wrong meeting password elsewhere: here it names the account's.
    expect(fieldErrors(new ApiError(422, "wrong_password", "wrong"))).toEqual({
      current_password: "The current password is not right.",
    });
  });

  it("put validation errors on the named fields, renamed to the form's", () => {
    const error = new ApiError(422, "validation_failed", "invalid", [
      { field: "body.new_password", message: "too short" },
      { field: "body.email", message: "not an email" },
    ]);
    expect(fieldErrors(error, { new_password: "password" })).toEqual({ password: "too short", email: "not an email" });
  });

  it("keep errors about no field for the form's alert", () => {
    expect(fieldErrors(new ApiError(429, "rate_limited", "slow down"))).toEqual({ "": "slow down" });
  });
});

describe("form fields", () => {
  it("mark errors on their inputs and focus the first", () => {
    const a = field("f", "a", "A");
    const b = field("f", "b", "B");
    document.body.replaceChildren(a.element, b.element);
    const rest = showErrors([a, b], { b: "bad b", "": "general" });
    expect(rest).toEqual(["general"]);
    expect(a.input.hasAttribute("aria-invalid")).toBe(false);
    expect(b.input.getAttribute("aria-invalid")).toBe("true");
    expect(b.error.textContent).toBe("bad b");
    expect(b.input.getAttribute("aria-describedby")).toBe("f-b-error");
    expect(document.activeElement).toBe(b.input);
    showErrors([a, b], {});
    expect(b.error.hidden).toBe(true);
  });

  it("tick the password rules while typing", () => {
    const input = document.createElement("input");
    const list = passwordRulesList(input, () => ({ username: "ann" }));
    const met = () => [...list.querySelectorAll("li")].map((item) => item.dataset.met);
    expect(met()).toEqual(["false", "false", "false"]);
    input.value = "ann";
    input.dispatchEvent(new Event("input"));
    expect(met()).toEqual(["false", "false", "false"]);
    input.value = "correct horse";
    input.dispatchEvent(new Event("input"));
    expect(met()).toEqual(["true", "true", "true"]);
  });
});

describe("signing in", () => {
  afterEach(() => {
    setLocale("en");
    update({ user: null, locale: "en" });
  });

  it("applies the language saved with the account", () => {
    setLocale("en");
    signedIn({ id: "1", username: "wang", locale: "zh-CN" } as User);
    expect(locale()).toBe("zh-CN");
    expect(getState().user?.username).toBe("wang");
    signedIn({ id: "2", username: "odd", locale: "xx" } as User); // unknown: the current one stays
    expect(locale()).toBe("zh-CN");
  });
});
