import type { FeatureMessages } from "./index";

export const account: FeatureMessages = {
  en: {
    "signin.title": "Sign in",
    "signin.to_continue": "Sign in to continue.",
    "signin.login": "Username or email",
    "signin.password": "Password",
    "signin.submit": "Sign in",
  },
  "zh-CN": {
    "signin.title": "登录",
    "signin.to_continue": "请登录后继续。",
    "signin.login": "用户名或邮箱",
    "signin.password": "密码",
    "signin.submit": "登录",
  },
};
