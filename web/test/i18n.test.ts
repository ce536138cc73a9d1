import { describe, expect, it } from "vitest";
import "../src/i18n/catalogs";
import { catalog, setLocale, t } from "../src/i18n";

describe("translations", () => {
  it("has every English message in Simplified Chinese", () => {
    const english = Object.keys(catalog("en"));
    const chinese = catalog("zh-CN");
    const missing = english.filter((key) => !(key in chinese));
    expect(missing).toEqual([]);
  });

  it("keeps the placeholders of each message", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(catalog("en"))) {
      expect([key, placeholders(catalog("zh-CN")[key] ?? text)]).toEqual([key, placeholders(text)]);
    }
  });

  it("fills placeholders and falls back to English, then to the key", () => {
    setLocale("zh-CN");
    expect(t("dashboard.signed_in_as", { name: "王" })).toBe("当前用户：王");
    expect(t("no.such.key")).toBe("no.such.key");
    setLocale("en");
    expect(t("dashboard.signed_in_as", { name: "Ann" })).toBe("Signed in as Ann");
  });
});

describe("feature catalogs", () => {
  it("never give one key two different texts (the later one would silently win)", async () => {
    const modules = import.meta.glob("../src/i18n/*.ts", { eager: true }) as Record<string, Record<string, unknown>>;
    const seen = new Map<string, { where: string; text: string }>();
    const clashes: string[] = [];
    for (const [path, module] of Object.entries(modules)) {
      for (const value of Object.values(module)) {
        const english = (value as { en?: Record<string, string> } | null)?.en;
        if (!english || typeof english !== "object") continue;
        for (const [key, text] of Object.entries(english)) {
          const earlier = seen.get(key);
          if (earlier && earlier.text !== text) clashes.push(`${key}: ${earlier.where} vs ${path}`);
          seen.set(key, { where: path, text });
        }
      }
    }
    expect(clashes).toEqual([]);
  });
});
