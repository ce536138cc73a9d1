"""Control-plane functions (user, meeting, media) and the local gateway that runs them."""
