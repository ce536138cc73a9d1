import type { Page } from "../app/router";
import { t } from "../i18n";
import { h } from "../ui/dom";

const page: Page = (root) => {
  root.replaceChildren(
    h("section", { class: "card" }, h("h1", {}, t("common.not_found")), h("a", { href: "/" }, t("common.home"))),
  );
};
export default page;
