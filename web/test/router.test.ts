import { describe, expect, it } from "vitest";
import { safeNext, signInPath } from "../src/app/router";

describe("sign-in redirects", () => {
  it("come back only to paths on this site", () => {
    expect(safeNext(new URLSearchParams("next=/join/abc?invite=x"))).toBe("/join/abc?invite=x");
    expect(safeNext(new URLSearchParams("next=https://evil.example/"))).toBe("/");
    expect(safeNext(new URLSearchParams("next=//evil.example/"))).toBe("/");
    expect(safeNext(new URLSearchParams(""), "/media")).toBe("/media");
  });

  it("carry the page the user wanted", () => {
    expect(signInPath("/join/abc?invite=x")).toBe("/signin?next=%2Fjoin%2Fabc%3Finvite%3Dx");
  });
});
