// `/meetings/new` and `/meetings/:id/edit`: every setting of a meeting. A new one is scheduled,
// or started right away ("Start now" creates it and goes to the join flow); an edit sends only
// what changed. Errors from the API appear next to the field they name.

import { ApiError } from "../api/http";
import { createMeeting, getMeeting, updateMeeting, type Meeting } from "../api/meetings";
import { navigate, type Page } from "../app/router";
import { update } from "../app/store";
import { t } from "../i18n";
import {
  AI_LANGUAGES,
  changeFromForm,
  draftFromForm,
  emptyForm,
  formField,
  formFromMeeting,
  LIMITS,
  SETTING_NAMES,
  shiftEnd,
  type MeetingForm,
  type SwitchSetting,
} from "../meetings/model";
import { h } from "../ui/dom";

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

function render(root: HTMLElement, meeting: Meeting | null): void {
  const initial: MeetingForm = meeting ? formFromMeeting(meeting) : emptyForm(new Date());
  const editing = meeting !== null;
  const live = meeting?.status === "live";
  const errors = new Map<string, { control: Control; slot: HTMLElement }>();

  /** A labelled control with a hint and a slot for its error, all tied together for readers. */
  function field(name: string, label: string, control: Control, hint?: string): HTMLElement {
    const id = `field-${name.replace(".", "-")}`;
    control.id = id;
    control.dataset.testid = `field-${name}`;
    const slot = h("p", { class: "field-error", id: `${id}-error`, "data-testid": `error-${name}`, hidden: true });
    const hintElement = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
    control.setAttribute("aria-describedby", [hintElement?.id, slot.id].filter(Boolean).join(" "));
    errors.set(name, { control, slot });
    const checkbox = control instanceof HTMLInputElement && control.type === "checkbox";
    return checkbox
      ? h("div", { class: "field check" }, control, h("label", { for: id }, label), hintElement, slot)
      : h("div", { class: "field" }, h("label", { for: id }, label), control, hintElement, slot);
  }

  const title = h("input", { name: "title", required: true, maxlength: LIMITS.titleMax, value: initial.title, autocomplete: "off" });
  const description = h("textarea", { name: "description", rows: 3, maxlength: LIMITS.descriptionMax });
  description.value = initial.description;
  const meetingType = h(
    "select",
    { name: "meeting_type" },
    h("option", { value: "video", selected: initial.meetingType === "video" }, t("meeting.type.video")),
    h("option", { value: "audio", selected: initial.meetingType === "audio" }, t("meeting.type.audio")),
  );
  const start = h("input", { name: "start_time", type: "datetime-local", required: true, value: initial.start, disabled: live });
  const end = h("input", { name: "end_time", type: "datetime-local", required: true, value: initial.end });
  let previousStart = start.value;
  start.addEventListener("change", () => {
    end.value = shiftEnd(previousStart, end.value, start.value); // keep the length
    previousStart = start.value;
  });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "new-password",
    minlength: LIMITS.passwordMin,
    maxlength: LIMITS.passwordMax,
  });
  const removePassword = h("input", { name: "remove_password", type: "checkbox" });
  removePassword.addEventListener("change", () => {
    password.disabled = removePassword.checked;
  });
  const maxParticipants = h("input", {
    name: "max_participants",
    type: "number",
    required: true,
    min: LIMITS.participantsMin,
    max: LIMITS.participantsMax,
    value: initial.maxParticipants,
  });
  const settings = Object.fromEntries(
    SETTING_NAMES.map((name) => [name, h("input", { name: `settings.${name}`, type: "checkbox", checked: initial.settings[name] })]),
  ) as Record<SwitchSetting, HTMLInputElement>;
  // the language captions are transcribed in, asked only when the AI features are on
  const aiLanguage = h(
    "select",
    { name: "settings.ai_language" },
    h("option", { value: "auto" }, t("setting.ai_language.auto")),
    ...AI_LANGUAGES.map(({ code, name }) => h("option", { value: code, lang: code }, name)),
  );
  if (![...aiLanguage.options].some((option) => option.value === initial.settings.ai_language)) {
    aiLanguage.append(h("option", { value: initial.settings.ai_language }, initial.settings.ai_language)); // kept as it is
  }
  aiLanguage.value = initial.settings.ai_language;
  const aiLanguageField = field("settings.ai_language", t("setting.ai_language"), aiLanguage, t("setting.ai_language.hint"));
  const showAiLanguage = () => {
    aiLanguageField.hidden = !settings.ai.checked;
  };
  settings.ai.addEventListener("change", showAiLanguage);
  showAiLanguage();

  const problem = h("p", { class: "alert", role: "alert", "data-testid": "form-error", hidden: true });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "save-meeting" }, editing ? t("common.save") : t("form.schedule"));
  const startNow = h("button", { type: "button", "data-testid": "start-now" }, t("form.start_now"));
  const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

  const form = h(
    "form",
    { class: "card wide meeting-form", "data-testid": "meeting-form", "aria-labelledby": "form-title" },
    h("h1", { id: "form-title" }, editing ? t("form.edit_title") : t("form.new_title")),
    problem,
    field("title", t("form.title"), title),
    field("description", t("form.description"), description, t("form.optional")),
    field("meeting_type", t("form.type"), meetingType),
    h(
      "fieldset",
      {},
      h("legend", {}, t("form.when")),
      h("p", { class: "hint" }, t("form.time_zone", { zone: timeZone })),
      h(
        "div",
        { class: "row" },
        field("start_time", t("form.start"), start, live ? t("form.live_start") : undefined),
        field("end_time", t("form.end"), end, t("form.max_length", { hours: LIMITS.maxHours })),
      ),
    ),
    field(
      "password",
      t("form.password"),
      password,
      meeting?.has_password
        ? t("form.password_keep")
        : t("form.password_hint", { min: LIMITS.passwordMin, max: LIMITS.passwordMax }),
    ),
    meeting?.has_password ? field("remove_password", t("form.password_remove"), removePassword) : null,
    field(
      "max_participants",
      t("form.max_participants"),
      maxParticipants,
      t("form.between", { min: LIMITS.participantsMin, max: LIMITS.participantsMax }),
    ),
    h(
      "fieldset",
      { class: "settings" },
      h("legend", {}, t("form.settings")),
      ...SETTING_NAMES.map((name) => field(`settings.${name}`, t(`setting.${name}`), settings[name], t(`setting.${name}.hint`))),
      aiLanguageField,
    ),
    h(
      "div",
      { class: "row actions" },
      submit,
      editing ? null : startNow,
      h("a", { href: "/", class: "button secondary", "data-testid": "form-back" }, t("common.cancel")),
    ),
  );

  const read = (): MeetingForm => ({
    title: title.value,
    description: description.value,
    meetingType: meetingType.value === "audio" ? "audio" : "video",
    start: start.value,
    end: end.value,
    password: password.disabled ? "" : password.value,
    removePassword: removePassword.checked,
    maxParticipants: Number(maxParticipants.value),
    settings: {
      ...(Object.fromEntries(SETTING_NAMES.map((name) => [name, settings[name].checked])) as Record<SwitchSetting, boolean>),
      ai_language: aiLanguage.value,
    },
  });

  const clearErrors = () => {
    problem.hidden = true;
    for (const { control, slot } of errors.values()) {
      slot.hidden = true;
      control.removeAttribute("aria-invalid");
    }
  };

  const showError = (error: unknown) => {
    const placed: Control[] = [];
    if (error instanceof ApiError) {
      for (const item of error.fields) {
        const target = errors.get(formField(item.field));
        if (!target) continue;
        // A problem with its own code (invalid_schedule, start_in_past) reads best translated;
        // schema validation messages come as the server wrote them.
        target.slot.textContent = error.code === "validation_failed" ? item.message : error.message;
        target.slot.hidden = false;
        target.control.setAttribute("aria-invalid", "true");
        placed.push(target.control);
      }
    }
    problem.textContent = placed.length > 0 ? t("form.check_fields") : messageOf(error);
    problem.hidden = false;
    (placed[0] ?? problem).focus?.();
  };

  const busy = (on: boolean) => {
    submit.disabled = startNow.disabled = on;
    form.setAttribute("aria-busy", String(on));
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    busy(true);
    try {
      if (meeting) {
        const change = changeFromForm(initial, read());
        if (change) await updateMeeting(meeting.id, change);
        update({ flash: { level: "info", text: t("form.saved", { title: title.value.trim() }) } });
      } else {
        const created = await createMeeting(draftFromForm(read()));
        update({ flash: { level: "info", text: t("form.scheduled", { title: created.title }) } });
      }
      navigate("/");
    } catch (error) {
      busy(false);
      showError(error);
    }
  });
  startNow.addEventListener("click", async () => {
    clearErrors();
    if (!title.reportValidity()) return; // the times do not matter: it starts now
    busy(true);
    try {
      const created = await createMeeting(draftFromForm(read(), { startNow: true }));
      navigate(`/join/${created.id}`);
    } catch (error) {
      busy(false);
      showError(error);
    }
  });
  root.replaceChildren(form);
  title.focus();
}

const page: Page = async (root, { params }) => {
  if (!params.id) {
    render(root, null);
    return;
  }
  const fail = (text: string) =>
    root.replaceChildren(
      h(
        "section",
        { class: "card" },
        h("p", { class: "alert", role: "alert", "data-testid": "form-error" }, text),
        h("a", { href: "/", class: "button secondary" }, t("common.home")),
      ),
    );
  root.replaceChildren(h("p", { class: "card", role: "status" }, t("common.loading")));
  let meeting: Meeting;
  try {
    meeting = await getMeeting(params.id);
  } catch (error) {
    fail(messageOf(error));
    return;
  }
  // Say so now rather than after the reader has changed everything.
  if (meeting.status === "ended" || meeting.status === "cancelled") fail(t(`error.meeting_${meeting.status}`));
  else if (meeting.my_role !== "host" && meeting.my_role !== "co_host") fail(t("error.not_meeting_manager"));
  else render(root, meeting);
};
export default page;
