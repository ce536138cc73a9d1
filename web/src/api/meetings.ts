// Meetings as the room needs them: create one, join (or wait in the lobby), leave.

import { post, request } from "./http";

export interface JoinTicket {
  signaling_url: string;
  join_token: string;
  participant_id: string;
  role: string;
  ice_servers: RTCIceServer[];
  meeting: { id: string; title: string };
}

export interface Waiting {
  meeting_id: string;
  requested_at: string;
}

export async function createMeeting(title: string): Promise<{ id: string }> {
  return post<{ id: string }>("/meetings", { title });
}

export interface JoinRequest {
  invite_token?: string;
  password?: string;
}

/** Join: a ticket for the media node, or `Waiting` while a host decides (lobby). */
export async function joinMeeting(meetingId: string, body: JoinRequest = {}): Promise<JoinTicket | Waiting> {
  const [status, data] = await request<JoinTicket | Waiting>(
    "POST",
    `/meetings/${encodeURIComponent(meetingId)}/join`,
    { body },
  );
  return status === 202 ? (data as Waiting) : (data as JoinTicket);
}

export async function leaveMeeting(meetingId: string): Promise<void> {
  await post(`/meetings/${encodeURIComponent(meetingId)}/leave`);
}
