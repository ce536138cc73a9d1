// Administration: accounts (search, ban, role, delete), live meetings, media nodes.

import type { User } from "./account";
import { del, get, post, put, query, type Page } from "./http";

export interface AdminUser extends User {
  ban_reason: string | null;
  updated_at: string;
}

export interface AdminMeeting {
  id: string;
  title: string;
  host_id: string;
  status: string;
  start_time: string;
  started_at: string | null;
  max_participants: number;
}

export interface RoomStatus {
  meeting_id: string;
  open: boolean;
  node_id: string | null;
  participants: { user_id: string; display_name: string }[];
}

export interface NodeStats {
  rooms: number;
  published_tracks: number;
  forwarded_streams: number;
  packets_in_per_second: number;
  packets_out_per_second: number;
  bitrate_in: number;
  bitrate_out: number;
  retransmitted_packets: number;
  cpu_percent: number;
}

export interface NodeStatus {
  id: string;
  signaling_url: string;
  load: number;
  seen_at: number; // unix seconds of the last heartbeat
  stats: NodeStats;
}

const user = (id: string) => `/admin/users/${encodeURIComponent(id)}`;

/** Accounts whose username, email or display name contains `q`; `status` "" for all. */
export function listUsers(q: string, page: number, pageSize = 20, status = ""): Promise<Page<AdminUser>> {
  return get<Page<AdminUser>>(`/admin/users${query({ q: q.trim(), status, page, page_size: pageSize })}`);
}

export function getUser(id: string): Promise<AdminUser> {
  return get<AdminUser>(user(id));
}

export function setRole(id: string, role: User["role"]): Promise<AdminUser> {
  return put<AdminUser>(`${user(id)}/role`, { role });
}

export function banUser(id: string, reason: string): Promise<AdminUser> {
  return post<AdminUser>(`${user(id)}/ban`, { reason: reason.trim() || null });
}

export function unbanUser(id: string): Promise<AdminUser> {
  return post<AdminUser>(`${user(id)}/unban`);
}

export function deleteUser(id: string): Promise<void> {
  return del(user(id));
}

export function listLiveMeetings(page: number, pageSize = 20): Promise<Page<AdminMeeting>> {
  return get<Page<AdminMeeting>>(`/admin/meetings${query({ status: "live", page, page_size: pageSize })}`);
}

/** Who is connected to the meeting's room (administrators may look at every room). */
export function roomStatus(meetingId: string): Promise<RoomStatus> {
  return get<RoomStatus>(`/meetings/${encodeURIComponent(meetingId)}/room`);
}

export function endMeeting(meetingId: string): Promise<AdminMeeting> {
  return post<AdminMeeting>(`/admin/meetings/${encodeURIComponent(meetingId)}/end`);
}

export function listNodes(): Promise<NodeStatus[]> {
  return get<NodeStatus[]>("/admin/nodes");
}
