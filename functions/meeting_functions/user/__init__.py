"""The user function: authentication, profiles and user administration."""
