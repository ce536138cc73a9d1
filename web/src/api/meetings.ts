// Meetings: schedule, list, change and cancel them; invite links; join (or wait in the lobby),
// leave. Shapes follow `MeetingPublic`, `MeetingDraft`/`MeetingChange` and the join answers in
// functions/meeting_functions/http/schemas.py and shared/meeting_shared/services/meetings.py.

import { del, get, patch, post, query, request, type Page } from "./http";

export type MeetingType = "video" | "audio";
export type MeetingStatus = "scheduled" | "live" | "ended" | "cancelled";
export type MeetingRole = "host" | "co_host" | "presenter" | "participant";

export interface MeetingSettings {
  video: boolean;
  audio: boolean;
  screen_share: boolean;
  chat: boolean;
  recording: boolean;
  ai: boolean;
  /** The language captions are transcribed in: "auto" (detected) or an ISO 639-1 code. */
  ai_language: string;
  mute_on_join: boolean;
  require_approval: boolean;
}

export interface Meeting {
  id: string;
  title: string;
  description: string;
  host_id: string;
  meeting_type: MeetingType;
  status: MeetingStatus;
  start_time: string;
  end_time: string;
  has_password: boolean;
  max_participants: number;
  settings: MeetingSettings;
  started_at: string | null;
  ended_at: string | null;
  created_at: string;
  my_role: MeetingRole | null;
}

/** `POST /meetings`: everything but the title may be left out (start: now, end: an hour later). */
export interface MeetingDraft {
  title: string;
  description?: string;
  start_time?: string;
  end_time?: string;
  meeting_type?: MeetingType;
  password?: string;
  max_participants?: number;
  settings?: Partial<MeetingSettings>;
}

/** `PATCH /meetings/{id}`: only what changes; `password: null` removes the password. */
export type MeetingChange = Partial<Omit<MeetingDraft, "password">> & { password?: string | null };

export interface JoinTicket {
  signaling_url: string;
  join_token: string;
  participant_id: string;
  role: string;
  ice_servers: RTCIceServer[];
  meeting: Meeting;
}

export interface Waiting {
  status: "waiting";
  meeting_id: string;
  meeting_title: string;
  /** Whom the caller waits for. */
  host_display_name: string | null;
  requested_at: string;
}

export interface InviteLink {
  id: string;
  token: string | null;
  url: string | null;
  expires_at: string | null;
  max_uses: number | null;
}

const path = (id: string) => `/meetings/${encodeURIComponent(id)}`;

export async function createMeeting(draft: MeetingDraft): Promise<Meeting> {
  return post<Meeting>("/meetings", draft);
}

export async function getMeeting(id: string): Promise<Meeting> {
  return get<Meeting>(path(id));
}

export async function updateMeeting(id: string, change: MeetingChange): Promise<Meeting> {
  return patch<Meeting>(path(id), change);
}

/** Cancel a meeting that is not live (the host only). */
export async function cancelMeeting(id: string): Promise<void> {
  await del(path(id));
}

export type MeetingList = "upcoming" | "history";

export async function myMeetings(list: MeetingList, page = 1, pageSize = 10): Promise<Page<Meeting>> {
  return get<Page<Meeting>>(`/my/meetings/${list}${query({ page, page_size: pageSize })}`);
}

/** A shareable invite link (no invitee named): valid for `expiresInHours`, unlimited uses. */
export async function createInviteLink(id: string, expiresInHours = 72): Promise<InviteLink> {
  return post<InviteLink>(`${path(id)}/invites`, { expires_in_hours: expiresInHours });
}

/** The address an invite token opens, on this site. */
export function inviteUrl(origin: string, meetingId: string, token: string): string {
  return `${origin}/join/${encodeURIComponent(meetingId)}?invite=${encodeURIComponent(token)}`;
}

export interface JoinRequest {
  invite_token?: string;
  password?: string;
}

/** Join: a ticket for the media node, or `Waiting` while a host decides (lobby). */
export async function joinMeeting(meetingId: string, body: JoinRequest = {}): Promise<JoinTicket | Waiting> {
  const [status, data] = await request<JoinTicket | Waiting>("POST", `${path(meetingId)}/join`, { body });
  return status === 202 ? (data as Waiting) : (data as JoinTicket);
}

export async function leaveMeeting(meetingId: string): Promise<void> {
  await post(`${path(meetingId)}/leave`);
}
