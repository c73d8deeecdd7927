// Who is logged in. The session cookie is HttpOnly; the page keeps only a flag that it logged
// in (so a first visit shows the login form without a refused request) and the CSRF token.

import { get, request, setCsrf } from "../api";

export interface User {
  name: string;
  role: "planner" | "coordinator" | "admin";
  scope: string;
}

interface SessionInfo {
  user: User;
  csrf_token: string;
  expires_at: string;
}

const FLAG = "sme-dashboards-signed-in";

let user: User | null = null;

export function me(): User | null {
  return user;
}

/** The session, if the page logged in before and the hub still knows it. */
export async function resume(): Promise<User | null> {
  if (!localStorage.getItem(FLAG)) return null;
  try {
    const info = await get<SessionInfo>("/api/v1/me");
    setCsrf(info.csrf_token);
    user = info.user;
    return user;
  } catch {
    forget();
    return null;
  }
}

export async function login(name: string, password: string): Promise<User> {
  const info = await request<SessionInfo>(
    "POST",
    "/api/v1/session",
    JSON.stringify({ name, password }),
    "application/json",
  );
  setCsrf(info.csrf_token);
  localStorage.setItem(FLAG, "1");
  user = info.user;
  return user;
}

export async function logout(): Promise<void> {
  try {
    await request("DELETE", "/api/v1/session");
  } finally {
    forget();
  }
}

export function forget(): void {
  localStorage.removeItem(FLAG);
  user = null;
}

/** The region codes the user may pick: their scope and what lies below it. */
export function isNational(u: User): boolean {
  return u.scope === "000000" || u.scope === "";
}
