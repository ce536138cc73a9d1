// Account actions more than one page offers (the navigation bar and the profile page).

import { logout, updateProfile } from "../api/account";
import { navigate } from "../app/router";
import { getState, update } from "../app/store";
import type { Locale } from "../i18n";

export async function signOut(): Promise<void> {
  await logout().catch(() => undefined); // signed out here either way: the cookies are gone or dead
  update({ user: null });
  navigate("/signin");
}

/**
 * Switches the language at once and, for a signed-in user, saves it in their profile (it is
 * applied again at their next sign-in). Throws when saving fails; the language is switched anyway.
 */
export async function chooseLocale(next: Locale): Promise<void> {
  update({ locale: next });
  const { user } = getState();
  if (user && user.locale !== next) update({ user: await updateProfile({ locale: next }) });
}
