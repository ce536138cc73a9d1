"""The meeting function: scheduling, joining, participants, lobby, invites, chat history."""
