// Saving bytes the page already holds (fetched with the session cookie) as a file.

/** Offer `blob` to the reader as a download named `filename`. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // the browser has taken its copy once the click is handled
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
