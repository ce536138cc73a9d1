"""The media function: the media library (uploads, metadata, thumbnails, downloads)."""
