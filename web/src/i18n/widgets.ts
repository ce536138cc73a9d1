import type { FeatureMessages } from "./index";

// Shared controls: the pager of long lists.
export const widgets: FeatureMessages = {
  en: {
    "pager.label": "Pages",
    "pager.previous": "Previous",
    "pager.next": "Next",
    "pager.status": "Page {page} of {pages}",
  },
  "zh-CN": {
    "pager.label": "分页",
    "pager.previous": "上一页",
    "pager.next": "下一页",
    "pager.status": "第 {page} 页，共 {pages} 页",
  },
};
