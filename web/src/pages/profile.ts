// `/profile`: the signed-in user's own account. Picture, name and email, language, password,
// deleting the account, and signing out; each part saves on its own and reports in place.

import {
  changePassword,
  currentUser,
  deleteAccount,
  updateProfile,
  uploadAvatar,
  type ProfileChange,
  type User,
} from "../api/account";
import { ApiError } from "../api/http";
import { addHint, field, passwordRulesList, showErrors, translated, type Field } from "../account/form";
import { checkDisplayName, checkEmail, checkNewPassword, fieldErrors, type Problems } from "../account/rules";
import { chooseLocale, signOut } from "../account/session";
import { navigate, type Page } from "../app/router";
import { getState, update } from "../app/store";
import { LOCALE_NAMES, LOCALES, t, type Locale } from "../i18n";
import { h } from "../ui/dom";

/** What the server accepts as an avatar (shared/meeting_shared/services/avatars.py). */
export const AVATAR_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif"];

const message = (exc: unknown) => (exc instanceof Error ? exc.message : String(exc));

/** A form's own messages: a general error (role=alert) and a success status (role=status). */
function reporter(testid: string) {
  const error = h("p", { class: "alert", role: "alert", "data-testid": `${testid}-error`, hidden: true });
  const done = h("p", { class: "info", role: "status", "data-testid": `${testid}-status` });
  return {
    nodes: [error, done],
    clear() {
      error.hidden = true;
      done.textContent = "";
    },
    fail(text: string) {
      error.textContent = text;
      error.hidden = !text;
    },
    ok(text: string) {
      done.textContent = text;
    },
  };
}

/** Shows an API error on the fields it concerns, the rest in the form's alert. */
function showApiError(exc: unknown, fields: Field[], report: ReturnType<typeof reporter>, rename: Record<string, string> = {}) {
  report.fail(exc instanceof ApiError ? showErrors(fields, fieldErrors(exc, rename)).join(" ") : message(exc));
}

function section(id: string, title: string, ...children: (Node | null)[]): HTMLElement {
  return h("section", { class: "panel", "aria-labelledby": `${id}-title`, "data-testid": `profile-${id}` }, h("h2", { id: `${id}-title` }, title), ...children);
}

function avatarSection(user: User, changed: (user: User) => void): { element: HTMLElement; cleanup: () => void } {
  const initial = (user.display_name || user.username).slice(0, 1).toUpperCase();
  const picture = (url: string) => h("img", { class: "avatar", src: url, alt: t("profile.avatar_current"), "data-testid": "avatar-current" });
  let current: HTMLElement = user.avatar_url
    ? picture(user.avatar_url)
    : h("span", { class: "avatar placeholder", role: "img", "aria-label": t("profile.avatar_none"), "data-testid": "avatar-current" }, initial);
  const preview = h("img", { class: "avatar", alt: t("profile.avatar_preview"), "data-testid": "avatar-preview" });
  const previewFigure = h("figure", { hidden: true }, preview, h("figcaption", {}, t("profile.avatar_new")));
  const input = h("input", { id: "avatar-file", name: "file", type: "file", accept: AVATAR_TYPES.join(","), "data-testid": "avatar-file", "aria-describedby": "avatar-hint" });
  const upload = h("button", { type: "submit", class: "primary", "data-testid": "avatar-upload", disabled: true }, t("profile.avatar_upload"));
  const report = reporter("avatar");
  let previewUrl: string | null = null;
  const setPreview = (file: File | null) => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = file ? URL.createObjectURL(file) : null;
    previewFigure.hidden = !previewUrl;
    if (previewUrl) preview.src = previewUrl;
    else preview.removeAttribute("src");
    upload.disabled = !file;
  };
  input.addEventListener("change", () => {
    report.clear();
    const file = input.files?.[0] ?? null;
    if (file && !AVATAR_TYPES.includes(file.type)) {
      setPreview(null);
      report.fail(t("error.unsupported_image"));
      return;
    }
    setPreview(file);
  });
  const form = h(
    "form",
    { class: "avatar-form" },
    h("div", { class: "avatar-row" }, h("figure", {}, current, h("figcaption", {}, t("profile.avatar_now"))), previewFigure),
    h("label", { for: "avatar-file" }, t("profile.avatar_choose")),
    input,
    h("p", { class: "hint", id: "avatar-hint" }, t("profile.avatar_hint")),
    ...report.nodes,
    upload,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files?.[0];
    if (!file) return;
    report.clear();
    upload.disabled = true;
    upload.textContent = t("profile.avatar_uploading");
    try {
      const user = await uploadAvatar(file);
      changed(user);
      if (user.avatar_url) {
        const next = picture(user.avatar_url);
        current.replaceWith(next);
        current = next;
      }
      input.value = "";
      setPreview(null);
      report.ok(t("profile.avatar_saved"));
    } catch (exc) {
      report.fail(message(exc));
      upload.disabled = false;
    } finally {
      upload.textContent = t("profile.avatar_upload");
    }
  });
  return { element: section("avatar", t("profile.avatar_title"), form), cleanup: () => setPreview(null) };
}

function detailsSection(user: User, changed: (user: User) => void): HTMLElement {
  const displayName = field("details", "display_name", t("profile.display_name"), { autocomplete: "name", required: true, maxlength: 64, value: user.display_name });
  const email = field("details", "email", t("profile.email"), { type: "email", autocomplete: "email", required: true, maxlength: 254, value: user.email });
  const currentPassword = field("details", "current_password", t("account.current_password"), { type: "password", autocomplete: "current-password" }, t("profile.email_needs_password"));
  const fields = [displayName, email, currentPassword];
  const save = h("button", { type: "submit", "data-testid": "details-save" }, t("common.save"));
  const report = reporter("details");
  let saved = user;
  // Changing the email asks for the password (the email receives reset links).
  const emailChanged = () => email.input.value.trim().toLowerCase() !== saved.email;
  const revealPassword = () => {
    currentPassword.element.hidden = !emailChanged();
    currentPassword.input.required = emailChanged();
  };
  email.input.addEventListener("input", revealPassword);
  revealPassword();
  const form = h("form", { novalidate: true, "data-testid": "details-form" }, ...fields.map((item) => item.element), ...report.nodes, save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    report.clear();
    const problems: Problems = {};
    const nameProblem = checkDisplayName(displayName.input.value, true);
    const emailProblem = checkEmail(email.input.value);
    if (nameProblem) problems.display_name = nameProblem;
    if (emailProblem) problems.email = emailProblem;
    if (emailChanged() && !currentPassword.input.value) problems.current_password = "account.required";
    showErrors(fields, translated(problems));
    if (Object.keys(problems).length) return;
    const change: ProfileChange = {};
    if (displayName.input.value.trim() !== saved.display_name) change.display_name = displayName.input.value.trim();
    if (emailChanged()) {
      change.email = email.input.value.trim();
      change.current_password = currentPassword.input.value;
    }
    if (Object.keys(change).length === 0) {
      report.ok(t("profile.nothing_changed"));
      return;
    }
    save.disabled = true;
    try {
      saved = await updateProfile(change);
      changed(saved);
      displayName.input.value = saved.display_name;
      email.input.value = saved.email;
      currentPassword.input.value = "";
      revealPassword();
      report.ok(t("profile.details_saved"));
    } catch (exc) {
      showApiError(exc, fields, report);
    } finally {
      save.disabled = false;
    }
  });
  return section("details", t("profile.details_title"), form);
}

function languageSection(): HTMLElement {
  const select = h(
    "select",
    { id: "profile-locale", "data-testid": "profile-locale" },
    ...LOCALES.map((code) => h("option", { value: code, selected: code === getState().locale, lang: code }, LOCALE_NAMES[code])),
  );
  const report = reporter("locale");
  select.addEventListener("change", async () => {
    select.disabled = true;
    try {
      await chooseLocale(select.value as Locale);
      navigate(location.pathname, { replace: true }); // everything again, in the new language
    } catch (exc) {
      report.fail(message(exc));
      select.disabled = false;
    }
  });
  return section(
    "locale",
    t("profile.locale_title"),
    h("div", { class: "field" }, h("label", { for: "profile-locale" }, t("profile.locale_label")), select, h("p", { class: "hint" }, t("profile.locale_hint"))),
    ...report.nodes,
  );
}

function passwordSection(user: User): HTMLElement {
  const current = field("password", "current_password", t("account.current_password"), { type: "password", autocomplete: "current-password", required: true });
  const password = field("password", "password", t("account.new_password"), { type: "password", autocomplete: "new-password", required: true });
  const confirm = field("password", "confirm", t("account.confirm_password"), { type: "password", autocomplete: "new-password", required: true });
  addHint(password, passwordRulesList(password.input, () => ({ username: user.username, email: getState().user?.email ?? user.email })));
  const fields = [current, password, confirm];
  const submit = h("button", { type: "submit", "data-testid": "password-save" }, t("profile.password_submit"));
  const report = reporter("password");
  // The account's name, unseen, so that password managers know whose password this is.
  const account = h("input", { type: "text", name: "username", autocomplete: "username", value: user.username, hidden: true, readonly: true, tabindex: "-1" });
  const form = h("form", { novalidate: true, "data-testid": "password-form" }, account, ...fields.map((item) => item.element), ...report.nodes, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    report.clear();
    const problems = checkNewPassword(password.input.value, confirm.input.value, { username: user.username, email: getState().user?.email ?? user.email });
    if (!current.input.value) problems.current_password = "account.required";
    showErrors(fields, translated(problems));
    if (Object.keys(problems).length) return;
    submit.disabled = true;
    try {
      await changePassword(current.input.value, password.input.value);
      for (const item of fields) item.input.value = "";
      password.input.dispatchEvent(new Event("input")); // the rules list starts over
      report.ok(t("profile.password_changed"));
    } catch (exc) {
      showApiError(exc, fields, report, { new_password: "password" });
    } finally {
      submit.disabled = false;
    }
  });
  return section("password", t("profile.password_title"), form);
}

function deleteSection(user: User): HTMLElement {
  const open = h("button", { type: "button", class: "danger", "aria-expanded": "false", "aria-controls": "delete-confirm", "data-testid": "delete-open" }, t("profile.delete_open"));
  const typed = h("input", { id: "delete-username", autocomplete: "off", spellcheck: false, "data-testid": "delete-username" });
  const confirm = h("button", { type: "submit", class: "danger", disabled: true, "data-testid": "delete-confirm" }, t("profile.delete_confirm"));
  const cancel = h("button", { type: "button", "data-testid": "delete-cancel" }, t("common.cancel"));
  const report = reporter("delete");
  const form = h(
    "form",
    { id: "delete-confirm", class: "confirm", hidden: true, "aria-labelledby": "delete-warning" },
    h("p", { id: "delete-warning", class: "warning" }, t("profile.delete_warning")),
    h("label", { for: "delete-username" }, t("profile.delete_type", { username: user.username })),
    typed,
    ...report.nodes,
    h("div", { class: "actions" }, confirm, cancel),
  );
  const show = (visible: boolean) => {
    form.hidden = !visible;
    open.hidden = visible;
    open.setAttribute("aria-expanded", String(visible));
    typed.value = "";
    confirm.disabled = true;
    report.clear();
    (visible ? typed : open).focus();
  };
  open.addEventListener("click", () => show(true));
  cancel.addEventListener("click", () => show(false));
  typed.addEventListener("input", () => (confirm.disabled = typed.value.trim().toLowerCase() !== user.username));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (typed.value.trim().toLowerCase() !== user.username) return;
    confirm.disabled = true;
    try {
      await deleteAccount();
      update({ user: null, flash: { level: "info", text: t("profile.deleted") } });
      navigate("/signin", { replace: true });
    } catch (exc) {
      report.fail(message(exc));
      confirm.disabled = false;
    }
  });
  return section("delete", t("profile.delete_title"), h("p", {}, t("profile.delete_intro")), open, form);
}

function render(root: HTMLElement, user: User): () => void {
  const changed = (next: User) => update({ user: next });
  const avatar = avatarSection(user, changed);
  const signOutButton = h("button", { type: "button", "data-testid": "profile-signout" }, t("nav.signout"));
  signOutButton.addEventListener("click", () => void signOut());
  root.replaceChildren(
    h(
      "div",
      { class: "profile", "data-testid": "profile" },
      h("header", {}, h("h1", {}, t("profile.title")), h("p", { class: "hint" }, t("profile.signed_in_as", { username: user.username })), signOutButton),
      avatar.element,
      detailsSection(user, changed),
      languageSection(),
      passwordSection(user),
      deleteSection(user),
    ),
  );
  return avatar.cleanup;
}

const page: Page = (root) => {
  let cleanup: () => void = () => undefined;
  let left = false;
  const load = async () => {
    root.replaceChildren(h("p", { class: "info", role: "status", "data-testid": "profile-loading" }, t("common.loading")));
    try {
      const user = await currentUser();
      // No user: the session ended and the router is already on its way to sign-in.
      if (left || !user) return;
      update({ user });
      cleanup = render(root, user);
    } catch (exc) {
      if (left) return;
      const retry = h("button", { type: "button" }, t("profile.retry"));
      retry.addEventListener("click", () => void load());
      root.replaceChildren(h("section", { class: "card" }, h("p", { class: "alert", role: "alert", "data-testid": "profile-error" }, message(exc)), retry));
    }
  };
  void load();
  return () => {
    left = true;
    cleanup();
  };
};
export default page;
