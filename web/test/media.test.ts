import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { sendUpload, uploadFailureCode, UploadFailed, uploadForm, type UploadTarget } from "../src/api/media";
import "../src/i18n/catalogs";
import { setLocale } from "../src/i18n";
import { formatBitrate, formatBytes, formatDuration } from "../src/ui/format";
import { pageCount } from "../src/ui/pager";

const target: UploadTarget = {
  method: "POST",
  url: "http://127.0.0.1:8333/meeting-media",
  fields: { key: "media/u/m", "Content-Type": "image/png", policy: "eyJ9", "x-amz-signature": "abc" },
  expires_in: 600,
  max_bytes: 4,
  content_type: "image/png",
};

describe("the upload form", () => {
  it("carries the signed fields in order, then the file last", () => {
    const file = new File([new Uint8Array([1, 2, 3, 4])], "cat.png", { type: "image/png" });
    const form = uploadForm(target, file);
    const names = [...form.keys()];
    expect(names).toEqual(["key", "Content-Type", "policy", "x-amz-signature", "file"]);
    expect(form.get("policy")).toBe("eyJ9");
    const sent = form.get("file") as File;
    expect(sent.name).toBe("cat.png");
    expect(sent.size).toBe(4);
  });
});

describe("upload failures", () => {
  beforeEach(() => setLocale("en"));

  it("reads S3's XML errors", () => {
    const xml = (code: string, message: string) =>
      `<?xml version="1.0"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    expect(uploadFailureCode(400, xml("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"))).toBe(
      "payload_too_large",
    );
    expect(uploadFailureCode(403, xml("AccessDenied", "Invalid according to Policy: Policy expired."))).toBe("upload_expired");
    expect(uploadFailureCode(403, xml("AccessDenied", "Invalid according to Policy: Policy Condition failed"))).toBe(
      "policy_condition_failed",
    );
    expect(uploadFailureCode(403, xml("SignatureDoesNotMatch", "nope"))).toBe("invalid_signature");
    expect(uploadFailureCode(500, "")).toBe("http_500");
  });

  it("reads the embedded store's problem documents", () => {
    expect(uploadFailureCode(403, JSON.stringify({ code: "upload_expired" }))).toBe("upload_expired");
    expect(uploadFailureCode(413, "")).toBe("payload_too_large");
  });

  it("say what went wrong in the reader's language", () => {
    expect(new UploadFailed(400, "payload_too_large").message).toBe("The file is larger than this server accepts.");
    setLocale("zh-CN");
    expect(new UploadFailed(0, "upload_unreachable").message).toBe("无法连接存储服务器。请检查网络后重试。");
  });
});

/** Just enough of XMLHttpRequest: records the request and lets a test answer it. */
class FakeXhr {
  static last: FakeXhr;
  method = "";
  url = "";
  body: unknown = null;
  status = 0;
  responseText = "";
  withCredentials = true;
  upload = new EventTarget();
  private events = new EventTarget();
  constructor() {
    FakeXhr.last = this;
  }
  open(method: string, url: string): void {
    this.method = method;
    this.url = url;
  }
  send(body: unknown): void {
    this.body = body;
  }
  abort(): void {
    this.events.dispatchEvent(new Event("abort"));
  }
  addEventListener(type: string, listener: EventListener): void {
    this.events.addEventListener(type, listener);
  }
  progress(loaded: number, total: number): void {
    this.upload.dispatchEvent(Object.assign(new Event("progress"), { loaded, total, lengthComputable: true }));
  }
  answer(status: number, text = ""): void {
    this.status = status;
    this.responseText = text;
    this.events.dispatchEvent(new Event("load"));
  }
}

describe("sending a file", () => {
  beforeEach(() => {
    setLocale("en");
    vi.stubGlobal("XMLHttpRequest", FakeXhr);
  });
  afterEach(() => vi.unstubAllGlobals());

  const file = new File(["data"], "cat.png", { type: "image/png" });

  it("posts the form without cookies and reports progress up to 100 %", async () => {
    const seen: number[] = [];
    const done = sendUpload(target, file, (fraction) => seen.push(fraction));
    const xhr = FakeXhr.last;
    expect([xhr.method, xhr.url, xhr.withCredentials]).toEqual(["POST", target.url, false]);
    expect(xhr.body).toBeInstanceOf(FormData);
    xhr.progress(50, 200);
    xhr.answer(204);
    await done;
    expect(seen).toEqual([0.25, 1]);
  });

  it("rejects with the storage server's reason", async () => {
    const done = sendUpload(target, file, () => undefined);
    FakeXhr.last.answer(400, "<Error><Code>EntityTooLarge</Code></Error>");
    await expect(done).rejects.toMatchObject({ status: 400, code: "payload_too_large" });
  });

  it("stops when cancelled", async () => {
    const controller = new AbortController();
    const done = sendUpload(target, file, () => undefined, controller.signal);
    controller.abort();
    await expect(done).rejects.toMatchObject({ name: "AbortError" });
  });
});

describe("numbers for people", () => {
  it("formats sizes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1,023 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(200 * 1024 * 1024)).toBe("200 MB");
    expect(formatBytes(5 * 1024 ** 4 * 2048)).toBe("10,240 TB");
  });

  it("formats durations and bitrates", () => {
    expect(formatDuration(4.6)).toBe("0:05");
    expect(formatDuration(75.4)).toBe("1:15");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatBitrate(750_000)).toBe("750 kbit/s");
    expect(formatBitrate(1_250_000)).toBe("1.3 Mbit/s");
  });

  it("counts pages", () => {
    expect(pageCount(0, 20)).toBe(1);
    expect(pageCount(20, 20)).toBe(1);
    expect(pageCount(21, 20)).toBe(2);
  });
});
