"""The ai function: the AI models over HTTP, and each meeting's AI setup."""
