"""Control-plane functions (user, meeting, media, ai): the HTTP edge, each one a Lambda handler;
`meeting_launcher.gateway` runs them all in one process."""
