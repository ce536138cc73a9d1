// What the room reads over REST besides the signaling socket: chat history.

import { get, query } from "./http";

export interface ChatMessage {
  id: string;
  meeting_id: string;
  sender: { id: string; username: string; display_name: string; avatar_url: string | null };
  body: string;
  created_at: string;
}

export interface ChatHistory {
  items: ChatMessage[];
  /** Pass as `before` for the page of older messages; null when there are none. */
  next_before: string | null;
}

/** The latest `limit` messages before `before` (all when null), oldest first. */
export async function chatHistory(meetingId: string, before: string | null, limit = 50): Promise<ChatHistory> {
  return get<ChatHistory>(`/meetings/${encodeURIComponent(meetingId)}/messages${query({ before, limit })}`);
}
