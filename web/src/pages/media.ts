// `/media`: the signed-in user's files (thumbnail, name, type, size, date, status) with upload
// (file picker or drag and drop, a progress bar per file), download and delete.

import { describeProblem } from "../api/http";
import {
  completeUpload,
  deleteMedia,
  downloadHref,
  listMedia,
  sendUpload,
  startUpload,
  thumbnailSrc,
  type MediaFile,
} from "../api/media";
import type { Page } from "../app/router";
import { getState } from "../app/store";
import { formatDateTime, t } from "../i18n";
import { ask } from "../ui/dialog";
import { h } from "../ui/dom";
import { formatBytes, formatDuration } from "../ui/format";
import { pager } from "../ui/pager";

const PAGE_SIZE = 20;
const ACCEPT = "image/*,video/*,audio/*";

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why the server refused a file, in the reader's language when it gave a code. */
function rejection(file: MediaFile): string {
  const { error_code: code, error } = file.details;
  if (typeof code === "string") return describeProblem(0, { code, detail: typeof error === "string" ? error : undefined });
  return typeof error === "string" ? error : "";
}

const page: Page = (root) => {
  const locale = getState().locale;
  let current = 1;
  let closed = false;
  const uploading = new Map<string, AbortController>(); // media id -> its upload

  const listError = h("p", { class: "alert", role: "alert", "data-testid": "media-error", hidden: true });
  const notice = h("p", { class: "info", role: "status", "data-testid": "media-notice", hidden: true });
  const list = h("div", { class: "media-list", "aria-busy": "true" }, h("p", {}, t("common.loading")));
  const uploads = h("ul", { class: "uploads", "data-testid": "uploads" }); // each state is a status/alert

  // The native control's own words ("No file chosen") are in the browser's language, not the
  // page's: it stays reachable (keyboard, screen readers) but its label is what people see.
  const input = h("input", {
    id: "media-file",
    type: "file",
    multiple: true,
    accept: ACCEPT,
    class: "sr-only",
    "data-testid": "media-file",
  });
  input.addEventListener("change", () => {
    for (const file of input.files ?? []) void upload(file);
    input.value = ""; // the same file may be picked again
  });
  const dropzone = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    input,
    h("label", { for: "media-file", class: "button" }, t("media.choose")),
    h("p", { class: "hint" }, t("media.drop_hint")),
  );
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault(); // allows the drop
    dropzone.classList.add("over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    for (const file of event.dataTransfer?.files ?? []) void upload(file);
  });

  function say(text: string): void {
    notice.textContent = text;
    notice.hidden = false;
  }

  async function load(pageNumber = current): Promise<void> {
    list.setAttribute("aria-busy", "true");
    try {
      const result = await listMedia(pageNumber, PAGE_SIZE);
      if (result.items.length === 0 && pageNumber > 1) return load(pageNumber - 1); // emptied by a delete
      current = pageNumber;
      listError.hidden = true;
      list.replaceChildren(...renderList(result.items), pager(result, (next) => void load(next)) ?? "");
    } catch (error) {
      listError.textContent = message(error);
      listError.hidden = false;
      list.replaceChildren();
    } finally {
      list.setAttribute("aria-busy", "false");
    }
  }

  function renderList(files: MediaFile[]): Node[] {
    if (files.length === 0) return [h("p", { "data-testid": "media-empty" }, t("media.empty"))];
    const head = h(
      "tr",
      {},
      ...["media.col.preview", "media.col.name", "media.col.type", "media.col.size", "media.col.date", "media.col.status", "media.col.actions"].map(
        (key) => h("th", { scope: "col" }, t(key)),
      ),
    );
    return [
      h(
        "div",
        { class: "table-wrap" },
        h("table", { class: "data media-table", "data-testid": "media-table" }, h("caption", { class: "sr-only" }, t("media.title")), h("thead", {}, head), h("tbody", {}, ...files.map(row))),
      ),
    ];
  }

  function row(file: MediaFile): HTMLElement {
    const ready = file.status === "ready";
    const status = uploading.has(file.id) ? "uploading" : file.status;
    const icon = h("span", { class: "kind-icon", "aria-hidden": "true" }, t(`media.kind_short.${file.kind ?? "file"}`));
    let preview: HTMLElement = icon;
    if (ready && file.has_thumbnail) {
      // alt="": the name is in the next cell. A thumbnail that cannot load shows the icon.
      preview = h("img", { src: thumbnailSrc(file.id), alt: "", loading: "lazy", "data-testid": "media-thumb" });
      preview.addEventListener("error", () => preview.replaceWith(icon), { once: true });
    }
    const facts: string[] = [];
    if (file.width && file.height) facts.push(`${file.width}×${file.height}`);
    if (file.duration_seconds) facts.push(formatDuration(file.duration_seconds));
    const statusCell = h(
      "td",
      { "data-testid": "media-status" },
      h("span", { class: `badge ${status}` }, t(`media.status.${status}`)),
      status === "failed" ? h("small", { class: "detail" }, rejection(file)) : null,
    );
    const actions = h("td", { class: "actions" });
    if (ready) {
      actions.append(
        h(
          "a",
          {
            href: downloadHref(file.id),
            download: file.filename,
            class: "button",
            "data-testid": "media-download",
            "aria-label": t("media.download_named", { name: file.filename }),
          },
          t("media.download"),
        ),
      );
    }
    if (!uploading.has(file.id)) {
      const remove = h(
        "button",
        { type: "button", class: "danger", "data-testid": "media-delete", "aria-label": t("media.delete_named", { name: file.filename }) },
        t("common.delete"),
      );
      remove.addEventListener("click", () => void removeFile(file, remove));
      actions.append(remove);
    }
    return h(
      "tr",
      { "data-testid": "media-row", "data-media-id": file.id, "data-status": status },
      h("td", { class: "preview" }, preview),
      h("td", { class: "name" }, h("span", { "data-testid": "media-name" }, file.filename)),
      h("td", {}, t(`media.kind.${file.kind ?? "file"}`), h("small", { class: "detail" }, [file.content_type, ...facts].join(" · "))),
      h("td", { class: "nowrap", "data-testid": "media-size" }, file.size_bytes === null ? "—" : formatBytes(file.size_bytes, locale)),
      h("td", {}, formatDateTime(file.created_at)),
      statusCell,
      actions,
    );
  }

  async function removeFile(file: MediaFile, button: HTMLButtonElement): Promise<void> {
    const confirmed = await ask({
      title: t("media.delete_title"),
      message: t("media.delete_confirm", { name: file.filename }),
      confirm: t("common.delete"),
      danger: true,
    });
    if (confirmed === null) return;
    button.disabled = true;
    try {
      await deleteMedia(file.id);
      say(t("media.deleted", { name: file.filename }));
      await load();
    } catch (error) {
      button.disabled = false;
      listError.textContent = message(error);
      listError.hidden = false;
    }
  }

  /** One file: reserve it, send it to storage with progress, then have the server check it. */
  async function upload(file: File): Promise<void> {
    const bar = h("progress", { max: 100, value: 0, "data-testid": "upload-progress", "aria-label": t("media.progress_named", { name: file.name }) });
    const percent = h("span", { class: "percent", "data-testid": "upload-percent" }, "0 %");
    const state = h("span", { class: "state", "data-testid": "upload-state" }, t("media.upload.starting"));
    const cancel = h("button", { type: "button", "data-testid": "upload-cancel", "aria-label": t("media.cancel_named", { name: file.name }) }, t("common.cancel"));
    const item = h(
      "li",
      { "data-testid": "upload-item", "data-state": "starting" },
      h("span", { class: "name" }, file.name, h("small", { class: "detail" }, formatBytes(file.size, locale))),
      bar,
      percent,
      state,
      cancel,
    );
    uploads.prepend(item);
    const setState = (name: string, text: string, isError = false) => {
      item.dataset.state = name;
      state.textContent = text;
      state.setAttribute("role", isError ? "alert" : "status");
      state.classList.toggle("error", isError);
    };
    const setProgress = (fraction: number) => {
      const value = Math.round(fraction * 100);
      bar.value = value;
      percent.textContent = `${value} %`;
    };
    const controller = new AbortController();
    cancel.addEventListener("click", () => controller.abort());
    let mediaId: string | null = null;
    try {
      const started = await startUpload(file);
      mediaId = started.media.id;
      uploading.set(mediaId, controller);
      if (controller.signal.aborted) throw new DOMException("cancelled", "AbortError");
      setState("uploading", t("media.upload.sending"));
      await sendUpload(started.upload, file, setProgress, controller.signal);
      cancel.remove(); // the file has arrived: checking it cannot be cancelled
      setState("processing", t("media.upload.processing"));
      const ready = await completeUpload(mediaId);
      setState("ready", t("media.upload.ready", { name: ready.filename }));
    } catch (error) {
      cancel.remove();
      if (error instanceof DOMException && error.name === "AbortError") {
        setState("cancelled", t("media.upload.cancelled"));
        // Nothing usable arrived: drop the reservation rather than leave an unfinished file.
        if (mediaId) await deleteMedia(mediaId).catch(() => undefined);
      } else {
        setState("failed", t("media.upload.failed", { reason: message(error) }), true);
      }
    } finally {
      if (mediaId) uploading.delete(mediaId);
      if (!closed) await load(1);
    }
  }

  // Leaving the page (or the site) in the middle of an upload loses it: ask first.
  const beforeUnload = (event: BeforeUnloadEvent) => {
    if (uploading.size > 0) event.preventDefault();
  };
  window.addEventListener("beforeunload", beforeUnload);

  root.replaceChildren(
    h(
      "section",
      { class: "page media-page", "data-testid": "media-page" },
      h("h1", {}, t("media.title")),
      h("p", { class: "lead" }, t("media.intro")),
      dropzone,
      uploads,
      notice,
      listError,
      list,
    ),
  );
  void load(1);
  return () => {
    closed = true;
    window.removeEventListener("beforeunload", beforeUnload);
    for (const controller of uploading.values()) controller.abort();
  };
};
export default page;
