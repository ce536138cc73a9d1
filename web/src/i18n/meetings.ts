import type { FeatureMessages } from "./index";

export const meetings: FeatureMessages = {
  en: {
    "dashboard.title": "Your meetings",
    "dashboard.signed_in_as": "Signed in as {name}",
    "dashboard.start_now": "Start a new meeting",
    "dashboard.default_title": "{name}'s meeting",
    "dashboard.join_label": "Meeting link or id",
    "dashboard.join": "Join",
    "join.joining": "Joining the meeting…",
    "join.reconnecting": "Connection lost. Reconnecting…",
    "join.waiting": "Waiting for a host to let you in…",
    "join.back": "Back to start",
  },
  "zh-CN": {
    "dashboard.title": "我的会议",
    "dashboard.signed_in_as": "当前用户：{name}",
    "dashboard.start_now": "立即开始新会议",
    "dashboard.default_title": "{name}的会议",
    "dashboard.join_label": "会议链接或编号",
    "dashboard.join": "加入",
    "join.joining": "正在加入会议…",
    "join.reconnecting": "连接已断开，正在重新连接…",
    "join.waiting": "正在等待主持人允许您进入…",
    "join.back": "返回首页",
  },
};
