// The media library: list, upload straight to storage, download, delete.
//
// An upload has three steps: `POST /media/uploads` reserves the file and answers a signed target
// (an S3 POST policy, or the embedded gateway's own signed form); the browser sends the file
// there itself as an HTML-form style multipart POST (XMLHttpRequest, for progress events); then
// `POST /media/uploads/{id}/complete` has the server check it (size, real type) and make the
// thumbnail.

import { describeProblem, del, get, post, query, type Page } from "./http";

export type MediaStatus = "pending" | "ready" | "failed";

export interface MediaFile {
  id: string;
  owner_id: string;
  meeting_id: string | null;
  filename: string;
  content_type: string;
  kind: "image" | "video" | "audio" | null;
  status: MediaStatus;
  size_bytes: number | null;
  width: number | null;
  height: number | null;
  duration_seconds: number | null;
  /** Probe results; for a refused file, `error` (English) and `error_code` (errors.md). */
  details: { error?: string; error_code?: string; [name: string]: unknown };
  has_thumbnail: boolean;
  created_at: string;
  completed_at: string | null;
}

/** Send a multipart/form-data `method` request to `url` with `fields`, then the file as `file`. */
export interface UploadTarget {
  method: string;
  url: string;
  fields: Record<string, string>;
  expires_in: number;
  max_bytes: number;
  content_type: string;
}

export interface UploadStarted {
  media: MediaFile;
  upload: UploadTarget;
}

const path = (id: string) => `/media/${encodeURIComponent(id)}`;

export function listMedia(page: number, pageSize = 20): Promise<Page<MediaFile>> {
  return get<Page<MediaFile>>(`/media${query({ page, page_size: pageSize })}`);
}

export function startUpload(file: File): Promise<UploadStarted> {
  return post<UploadStarted>("/media/uploads", {
    filename: file.name,
    // Browsers leave the type empty when they do not know it; the server then says which
    // types it takes.
    content_type: file.type || "application/octet-stream",
    size: file.size,
  });
}

export function completeUpload(id: string): Promise<MediaFile> {
  return post<MediaFile>(`/media/uploads/${encodeURIComponent(id)}/complete`);
}

export function deleteMedia(id: string): Promise<void> {
  return del(path(id));
}

/** Redirects (with the session cookie) to a short-lived signed URL that downloads the file. */
export function downloadHref(id: string): string {
  return `/api/v1${path(id)}/download`;
}

export function thumbnailSrc(id: string): string {
  return `/api/v1${path(id)}/thumbnail`;
}

/** The form a signed target expects: its fields in order, then the file, last (S3 ignores
 * anything after the file, and the policy covers the fields before it). */
export function uploadForm(target: UploadTarget, file: Blob, filename?: string): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
  form.append("file", file, filename ?? (file instanceof File ? file.name : "file"));
  return form;
}

/** S3 answers with XML (`<Error><Code>…`), the embedded store with a problem document; both
 * become one of the API's error codes. */
export function uploadFailureCode(status: number, body: string): string {
  try {
    const problem = JSON.parse(body) as { code?: unknown };
    if (typeof problem.code === "string") return problem.code;
  } catch {
    // not JSON: S3's XML
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? "";
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? "";
  if (code === "EntityTooLarge" || status === 413) return "payload_too_large";
  if (code === "EntityTooSmall") return "empty_upload";
  if (code === "AccessDenied" && /expired/i.test(message)) return "upload_expired";
  if (code === "SignatureDoesNotMatch" || code === "InvalidAccessKeyId") return "invalid_signature";
  if (code === "AccessDenied") return "policy_condition_failed";
  return `http_${status}`;
}

/** The storage server refused the file, or could not be reached (`status` 0). */
export class UploadFailed extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(describeProblem(status, { code }));
  }
}

/** Send the file to its signed target; `onProgress` gets 0..1 as bytes leave the browser. */
export function sendUpload(
  target: UploadTarget,
  file: File,
  onProgress: (fraction: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(target.method, target.url);
    // The signature in the form is the credential: no cookies go to the storage server.
    xhr.withCredentials = false;
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new UploadFailed(xhr.status, uploadFailureCode(xhr.status, xhr.responseText)));
      }
    });
    // Also what a refused cross-origin request looks like (no CORS on the bucket).
    xhr.addEventListener("error", () => reject(new UploadFailed(0, "upload_unreachable")));
    xhr.addEventListener("abort", () => reject(new DOMException("The upload was cancelled", "AbortError")));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(uploadForm(target, file));
  });
}
